/* heatflex bundled heat-pump FMU (FMI 2.0 co-simulation): value references and defaults.
 *
 * Every value reference below is unique across the variable types, and the numbers match
 * ../modelDescription.xml (tests/test_heatpump_fmu.py checks names, references and start values).
 * Units follow the modelDescription: powers W, temperatures K, times s, fractions 1.
 */
#ifndef HEATFLEX_HEATPUMP_H
#define HEATFLEX_HEATPUMP_H

#define HP_GUID "{6b0f3c1e-6f0e-4a8e-9c1d-2f1a7d4e5b01}"

/* ---- Real variables: value reference = index into Model.r[] ------------------------------ */
enum {
    /* parameters (causality="parameter", variability="fixed") */
    VR_Q_RATED = 0,            /* W    rated heat capacity at -12 degC, compressor + backup     */
    VR_COMPRESSOR_SHARE = 1,   /* 1    compressor share of Q_rated                               */
    VR_BACKUP_EFFICIENCY = 2,  /* 1    electric backup heater efficiency                         */
    VR_MODULATION_MIN = 3,     /* 1    lowest compressor output / its capacity                   */
    VR_MIN_ON_TIME = 4,        /* s    minimum compressor run time                               */
    VR_MIN_OFF_TIME = 5,       /* s    minimum compressor stop time                              */
    VR_COP_CORRECTION = 6,     /* 1    data sheet -> field (iPower 0.95)                         */
    VR_COP_YEAR_FACTOR = 7,    /* 1    technology factor by installation year (iPower Table 24) */
    VR_A35 = 8,                /* 1    COP_35 = a35 + b35*T_src[degC]                            */
    VR_B35 = 9,                /* 1/K                                                            */
    VR_A55 = 10,               /* 1    COP_55 = a55 + b55*T_src[degC]                            */
    VR_B55 = 11,               /* 1/K                                                            */
    VR_T_DHW_SUPPLY = 12,      /* K    supply temperature in DHW mode                            */
    VR_AIR_CAP_SLOPE = 13,     /* 1/K  air source: relative capacity gain per K above -12 degC   */
    VR_AIR_CAP_MAX = 14,       /* 1    air source: cap of the relative capacity                  */
    VR_TAU_CONDENSER = 15,     /* s    first-order lag of the delivered heat (0 = off)           */
    VR_STARTUP_RAMP_TIME = 16, /* s    compressor output ramp 0 -> capacity after a start (0=off)*/
    VR_DEFROST_LOSS_MAX = 17,  /* 1    air source: peak defrost loss of capacity and COP (0=off) */
    VR_T_DEFROST_LO = 18,      /* K    defrost loss 0 at and below                               */
    VR_T_DEFROST_PEAK_LO = 19, /* K    defrost loss at its peak from ...                          */
    VR_T_DEFROST_PEAK_HI = 20, /* K    ... to                                                     */
    VR_T_DEFROST_HI = 21,      /* K    defrost loss 0 at and above                               */
    /* inputs */
    VR_Q_REQ = 30,             /* W    heat requested for the current mode                       */
    VR_T_OUT = 31,             /* K    outdoor air temperature                                   */
    VR_T_OUT_24H = 32,         /* K    24-h mean outdoor temperature (heating curve)             */
    VR_T_OUT_168H = 33,        /* K    168-h mean outdoor temperature (ground temperature)       */
    /* outputs: means over the last doStep */
    VR_P_EL = 40,              /* W    electric power, compressor + backup                       */
    VR_P_EL_COMPRESSOR = 41,   /* W                                                              */
    VR_P_BACKUP = 42,          /* W                                                              */
    VR_Q_TH = 43,              /* W    heat delivered (after the condenser lag)                  */
    VR_Q_SH = 44,              /* W    Q_th to space heating                                     */
    VR_Q_DHW = 45,             /* W    Q_th to the DHW tank                                      */
    VR_Q_BACKUP = 46,          /* W    backup heat produced                                      */
    VR_COP = 47,               /* 1    Q_th / P_el (0 when P_el = 0)                             */
    VR_T_SUPPLY = 48,          /* K    supply temperature                                        */
    VR_MODULATION_FRAC = 49,   /* 1    compressor heat / its current capacity                    */
    VR_Q_COMPRESSOR = 50,      /* W    compressor heat produced (before the condenser lag)       */
    VR_DEFROST_LOSS_FRAC = 51, /* 1    current defrost loss fraction                             */
    N_REAL = 52
};

/* ---- Integer variables: value reference = INT_BASE + index ------------------------------- */
#define INT_BASE 100
enum {
    VR_SOURCE = 100,           /* parameter: 0 ground (brine/water), 1 air (air/water)         */
    VR_EMITTER = 101,          /* parameter: 0 radiator, 1 floor heating                       */
    VR_SG_READY_STATE = 102,   /* input: 1 block, 2 normal, 3 increased, 4 forced on           */
    VR_STARTS = 103,           /* output: cumulative compressor starts                         */
    N_INTEGER = 4
};

/* ---- Boolean variables: value reference = BOOL_BASE + index ------------------------------ */
#define BOOL_BASE 200
enum {
    VR_DHW_MODE = 200,         /* input: heat goes to the DHW tank at T_dhw_supply             */
    VR_ON = 201,               /* output: compressor on during the last step                   */
    N_BOOLEAN = 2
};

#endif
