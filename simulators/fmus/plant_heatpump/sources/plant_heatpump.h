/* heatflex plant heat-pump FMU (FMI 2.0 co-simulation): value references and defaults.
 *
 * Every value reference is unique across the variable types and matches ../modelDescription.xml
 * (tests/test_plant_heatpump.py checks names, references and start values). Variable names and
 * units are those of the native core simulators/plant_heatpump.py (kW, degC, K, s, 1/s, DKK),
 * so the FMU computes with the same numbers as the native model.
 */
#ifndef HEATFLEX_PLANT_HEATPUMP_H
#define HEATFLEX_PLANT_HEATPUMP_H

#define PHP_GUID "{945c5820-7385-47b5-82a8-1e741ce976a1}"

/* ---- Real variables: value reference = index into Model.r[] ------------------------------ */
enum {
    /* parameters (causality="parameter", variability="fixed") */
    VR_Q_NOM = 0,              /* kW   heat output at full load                                  */
    VR_LOAD_MIN = 1,           /* 1    lowest load while running                                 */
    VR_LOAD_OPT = 2,           /* 1    load of the best COP                                      */
    VR_ETA_MAX = 3,            /* 1    Lorenz efficiency at load_opt                             */
    VR_PART_LOAD_K = 4,        /* 1    curvature of the part-load efficiency                     */
    VR_T_SOURCE_NOM = 5,       /* degC nominal source temperature (native T_source_C parameter)  */
    VR_DT_SOURCE = 6,          /* K    source cooling across the evaporator                      */
    VR_DT_APPROACH = 7,        /* K    approach at both heat exchangers                          */
    VR_T_SUPPLY_MIN = 8,       /* degC lowest supply set point                                   */
    VR_T_SUPPLY_MAX = 9,       /* degC highest supply set point                                  */
    VR_MIN_ON = 10,            /* s    minimum run time                                          */
    VR_MIN_OFF = 11,           /* s    minimum stop time                                         */
    VR_RAMP = 12,              /* 1/s  load ramp                                                 */
    VR_START_COST = 13,        /* DKK  cost per start (native start_cost_DKK parameter)          */
    /* inputs */
    VR_LOAD_SET = 20,          /* 1    load set point, 0 = off                                   */
    VR_T_SUPPLY = 21,          /* degC supply set point                                          */
    VR_T_RETURN = 22,          /* degC return temperature                                        */
    VR_T_SOURCE = 23,          /* degC source temperature                                        */
    VR_DP_EL_SET = 24,         /* kW   FCR-N power modulation, + = consume more                  */
    /* outputs: end-of-step values */
    VR_ON = 30,                /* 1    0/1                                                       */
    VR_LOAD_FRAC = 31,         /* 1    load incl. FCR modulation                                 */
    VR_Q_TH = 32,              /* kW   heat output                                               */
    VR_P_EL = 33,              /* kW   electric power                                            */
    VR_COP = 34,               /* 1    Q_th / P_el (0 when off)                                  */
    VR_START_COST_TOTAL = 35,  /* DKK  cumulative start cost                                     */
    VR_DP_EL = 36,             /* kW   FCR-N modulation delivered                                */
    N_REAL = 37
};

/* ---- Integer variables: value reference = INT_BASE + index ------------------------------- */
#define INT_BASE 100
enum {
    VR_STARTS = 100,           /* output: cumulative starts                                    */
    N_INTEGER = 1
};

#endif
