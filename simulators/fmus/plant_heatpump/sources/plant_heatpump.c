/* heatflex plant heat-pump FMU — FMI 2.0 co-simulation.
 *
 * The numeric twin of simulators/plant_heatpump.py (PlantHeatPump.step, one unit): the
 * FlexHeat Nordhavn two-stage ammonia heat pump with a Lorenz-efficiency COP model,
 *
 *   COP(x) = eta_max * (1 - k * (x - x_opt)^2) * T_hm / (T_hm - T_cm),
 *   T_hm = lmtd(T_supply + dT_app, T_return + dT_app), T_cm = lmtd(T_src - dT_app,
 *   T_src - dT_src - dT_app) in K,  P_el = Q_nom * x / COP(x),
 *
 * load range [load_min, 1], minimum run/stop times (commanded off during the minimum run time ->
 * runs on at load_min), load ramp (a start begins at load_min), start counting and start cost,
 * and FCR-N power modulation dP_el_set converted to load with the closed-form inverse of P_el(x).
 * Outputs are end-of-step values. Same arithmetic order as the native core, so results agree to
 * rounding (the twin test asserts 1e-9). docs/models/plant-heatpump.md has the equations.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi2Functions.h"
#include "plant_heatpump.h"

#define T0_K 273.15             /* 0 degC in K */
#define STATE_MAGIC 0x50485031u /* "PHP1": serialized FMU state tag */
#define MODEL_NAME "heatflex_plant_heatpump"

typedef enum { ST_INSTANTIATED, ST_INIT, ST_STEP, ST_TERMINATED, ST_ERROR } Phase;

/* Everything that defines the simulation state (copied by fmi2GetFMUstate). */
typedef struct {
    double r[N_REAL];
    int i[N_INTEGER];
    /* dynamic state */
    int on;              /* running during the last step */
    double t_state;      /* time in the current on/off state at the end of the last step, s */
    double load_base;    /* ramped base load (without FCR modulation), 0 when off */
    int starts;
    double cost;         /* cumulative start cost, DKK */
    double time;         /* last communication point, s */
    Phase phase;
} Model;

typedef struct {
    Model m;
    char *name;
    const fmi2CallbackFunctions *cb;
    int logging_on;
    int log_events;      /* category "logEvents" enabled */
} Instance;

#include "fmi2_logging.inc"

/* ------------------------------------------------------------------------------------------ */
/* variables                                                                                   */
/* ------------------------------------------------------------------------------------------ */
typedef enum { K_NONE, K_PARAM, K_INPUT, K_OUTPUT } Kind;

static Kind real_kind(fmi2ValueReference vr) {
    if (vr <= VR_START_COST) return K_PARAM;
    if (vr >= VR_LOAD_SET && vr <= VR_DP_EL_SET) return K_INPUT;
    if (vr >= VR_ON && vr < N_REAL) return K_OUTPUT;
    return K_NONE;
}

static Kind int_kind(fmi2ValueReference vr) {
    return vr == VR_STARTS ? K_OUTPUT : K_NONE;
}

/* Start values (= modelDescription.xml = PlantHeatPumpParams defaults). */
static void set_defaults(Model *m) {
    memset(m, 0, sizeof *m);
    m->r[VR_Q_NOM] = 800.0;
    m->r[VR_LOAD_MIN] = 0.34;
    m->r[VR_LOAD_OPT] = 0.85;
    m->r[VR_ETA_MAX] = 0.47;
    m->r[VR_PART_LOAD_K] = 0.58;
    m->r[VR_T_SOURCE_NOM] = 10.5;
    m->r[VR_DT_SOURCE] = 5.0;
    m->r[VR_DT_APPROACH] = 3.0;
    m->r[VR_T_SUPPLY_MIN] = 60.0;
    m->r[VR_T_SUPPLY_MAX] = 84.0;
    m->r[VR_MIN_ON] = 3600.0;
    m->r[VR_MIN_OFF] = 1800.0;
    m->r[VR_RAMP] = 0.01;
    m->r[VR_START_COST] = 30.0;
    m->r[VR_LOAD_SET] = 0.0;
    m->r[VR_T_SUPPLY] = 75.0;
    m->r[VR_T_RETURN] = 35.0;
    m->r[VR_T_SOURCE] = 10.5;
    m->r[VR_DP_EL_SET] = 0.0;
    m->on = 0;
    m->t_state = INFINITY; /* initially off and free to start */
    m->phase = ST_INSTANTIATED;
}

/* ------------------------------------------------------------------------------------------ */
/* physics (same arithmetic order as simulators/plant_heatpump.py)                             */
/* ------------------------------------------------------------------------------------------ */
static double clip(double x, double lo, double hi) {
    x = x < lo ? lo : x; /* = min(max(x, lo), hi), as np.clip */
    return x > hi ? hi : x;
}

static double log_mean(double a, double b) { return (a - b) / log(a / b); }

/* Lorenz COP for supply, return, source in degC; *lift receives T_hm - T_cm (K). */
static double cop_lorenz(const Model *m, double ts, double tr, double tsrc, double *lift) {
    double app = m->r[VR_DT_APPROACH], dsrc = m->r[VR_DT_SOURCE];
    double t_hm = log_mean(ts + app + T0_K, tr + app + T0_K);
    double t_cm = log_mean(tsrc - app + T0_K, tsrc - dsrc - app + T0_K);
    *lift = t_hm - t_cm;
    return t_hm / *lift;
}

static double cop_at(const Model *m, double x, double cl) {
    double d = x - m->r[VR_LOAD_OPT];
    return m->r[VR_ETA_MAX] * (1.0 - m->r[VR_PART_LOAD_K] * d * d) * cl;
}

/* Root x >= 0 of p (1 - k (x - xo)^2) = a x (closed-form inverse of P_el(x)). */
static double load_for_power(double p, double a, double k, double xo) {
    double A = p * k;
    double B = a - 2.0 * p * k * xo;
    double C = -p * (1.0 - k * xo * xo);
    double sq = sqrt(B * B - 4.0 * A * C);
    return B >= 0.0 ? (-2.0 * C) / (B + sq) : (sq - B) / (2.0 * A);
}

static const char *check_parameters(Model *m, char *buf, size_t n) {
    struct { int vr; double lo, hi; int lo_open; const char *name; } rng[] = {
        {VR_Q_NOM, 0.0, INFINITY, 1, "Q_nom_kW"},
        {VR_LOAD_MIN, 0.0, 1.0, 1, "load_min_frac"},
        {VR_LOAD_OPT, 0.0, 1.0, 1, "load_opt_frac"},
        {VR_ETA_MAX, 0.0, 1.0, 1, "eta_lorenz_max"},
        {VR_PART_LOAD_K, 0.0, INFINITY, 0, "part_load_k"},
        {VR_T_SOURCE_NOM, -20.0, 40.0, 0, "T_source_nom_C"},
        {VR_DT_SOURCE, 0.0, 30.0, 1, "dT_source_K"},
        {VR_DT_APPROACH, 0.0, 20.0, 0, "dT_approach_K"},
        {VR_T_SUPPLY_MIN, 20.0, 120.0, 0, "T_supply_min_C"},
        {VR_T_SUPPLY_MAX, 20.0, 120.0, 0, "T_supply_max_C"},
        {VR_MIN_ON, 0.0, INFINITY, 0, "min_on_s"},
        {VR_MIN_OFF, 0.0, INFINITY, 0, "min_off_s"},
        {VR_RAMP, 0.0, INFINITY, 1, "ramp_frac_per_s"},
        {VR_START_COST, 0.0, INFINITY, 0, "start_cost_per_start_DKK"},
    };
    size_t k;
    double pk, xo, xm, worst;
    for (k = 0; k < sizeof rng / sizeof rng[0]; ++k) {
        double v = m->r[rng[k].vr];
        int fin = isfinite(v) || (rng[k].vr == VR_RAMP && v == INFINITY); /* inf: no ramp limit */
        int ok = fin && (rng[k].lo_open ? v > rng[k].lo : v >= rng[k].lo) && v <= rng[k].hi;
        if (!ok) {
            snprintf(buf, n, "parameter %s = %g is out of range; allowed %s%g, %g]", rng[k].name,
                     v, rng[k].lo_open ? "(" : "[", rng[k].lo, rng[k].hi);
            return buf;
        }
    }
    if (m->r[VR_T_SUPPLY_MIN] > m->r[VR_T_SUPPLY_MAX]) {
        snprintf(buf, n, "parameters T_supply_min_C = %g > T_supply_max_C = %g",
                 m->r[VR_T_SUPPLY_MIN], m->r[VR_T_SUPPLY_MAX]);
        return buf;
    }
    pk = m->r[VR_PART_LOAD_K];
    xo = m->r[VR_LOAD_OPT];
    xm = m->r[VR_LOAD_MIN];
    worst = (xm - xo) * (xm - xo) > (1.0 - xo) * (1.0 - xo) ? (xm - xo) * (xm - xo)
                                                            : (1.0 - xo) * (1.0 - xo);
    if (!(pk * xo * xo < 1.0) || !(pk * worst < 1.0)) {
        snprintf(buf, n, "parameter part_load_k = %g: part_load_k * load_opt_frac^2 and "
                 "part_load_k * max((load_min - load_opt)^2, (1 - load_opt)^2) must be < 1", pk);
        return buf;
    }
    return NULL;
}

/* One communication step of length dt (s): PlantHeatPump.step for one unit. */
static fmi2Status model_step(Instance *c, double dt) {
    Model *m = &c->m;
    double *r = m->r;
    double x_set = r[VR_LOAD_SET], ts = r[VR_T_SUPPLY], tr = r[VR_T_RETURN];
    double tsrc = r[VR_T_SOURCE], dp_set = r[VR_DP_EL_SET];
    double x_min = r[VR_LOAD_MIN], q_nom = r[VR_Q_NOM], ramp;
    double target, x_from, x_base, cl, lift, p_base, x, cop, q_th, p_el, dp;
    int was_on = m->on, want, keep, start, on, fcr;

    if (!(isfinite(x_set) && x_set >= 0.0)) {
        log_msg(c, fmi2Error, "fmi2DoStep: input load_set_frac = %g is not allowed; use values "
                ">= 0 (0 = off)", x_set);
        return fmi2Error;
    }
    if (!(isfinite(ts) && ts >= r[VR_T_SUPPLY_MIN] && ts <= r[VR_T_SUPPLY_MAX])) {
        log_msg(c, fmi2Error, "fmi2DoStep: input T_supply_C = %g is out of range; allowed "
                "[%g, %g] degC", ts, r[VR_T_SUPPLY_MIN], r[VR_T_SUPPLY_MAX]);
        return fmi2Error;
    }
    if (!(isfinite(tr) && tr < ts)) {
        log_msg(c, fmi2Error, "fmi2DoStep: input T_return_C = %g must be finite and below "
                "T_supply_C = %g", tr, ts);
        return fmi2Error;
    }
    if (!isfinite(tsrc) || !isfinite(dp_set)) {
        log_msg(c, fmi2Error, "fmi2DoStep: inputs T_source_C = %g and dP_el_set_kW = %g must be "
                "finite", tsrc, dp_set);
        return fmi2Error;
    }
    cl = cop_lorenz(m, ts, tr, tsrc, &lift);
    if (!(lift > 0.0)) {
        log_msg(c, fmi2Error, "fmi2DoStep: input T_source_C = %g: the source must be colder "
                "than the sink", tsrc);
        return fmi2Error;
    }

    /* on/off with minimum run and stop times */
    want = x_set > 0.0;
    keep = was_on && (want || m->t_state < r[VR_MIN_ON]);
    start = !was_on && want && m->t_state >= r[VR_MIN_OFF];
    on = keep || start;
    target = want ? clip(x_set, x_min, 1.0) : x_min;

    /* ramped base load; a start begins at load_min */
    x_from = was_on ? m->load_base : x_min;
    ramp = r[VR_RAMP] * dt;
    x_base = on ? x_from + clip(target - x_from, -ramp, ramp) : 0.0;

    /* base power and FCR-N modulation */
    p_base = q_nom * x_base / cop_at(m, x_base, cl);
    fcr = on && dp_set != 0.0;
    x = x_base;
    if (fcr) {
        double p_tgt = p_base + dp_set;
        p_tgt = p_tgt > 0.0 ? p_tgt : 0.0;
        x = clip(load_for_power(p_tgt, q_nom / (r[VR_ETA_MAX] * cl), r[VR_PART_LOAD_K],
                                r[VR_LOAD_OPT]), x_min, 1.0);
    }
    cop = on ? cop_at(m, x, cl) : 0.0;
    q_th = q_nom * x;
    p_el = on ? q_th / cop : 0.0;
    dp = fcr ? p_el - p_base : 0.0;

    /* state */
    m->t_state = (on != was_on) ? dt : m->t_state + dt;
    if (start) {
        m->starts += 1;
        m->cost = m->cost + r[VR_START_COST];
        log_msg(c, fmi2OK, "t = %g s: heat pump start (%d)", m->time, m->starts);
    } else if (was_on && !on) {
        log_msg(c, fmi2OK, "t = %g s: heat pump stop", m->time);
    }
    m->on = on;
    m->load_base = x_base;

    r[VR_ON] = on ? 1.0 : 0.0;
    r[VR_LOAD_FRAC] = x;
    r[VR_Q_TH] = q_th;
    r[VR_P_EL] = p_el;
    r[VR_COP] = cop;
    r[VR_START_COST_TOTAL] = m->cost;
    r[VR_DP_EL] = dp;
    m->i[VR_STARTS - INT_BASE] = m->starts;
    return fmi2OK;
}

#define MODEL_GUID PHP_GUID
static void model_initialized(Model *m) { (void)m; }

#include "fmi2_common.inc"

/* ------------------------------------------------------------------------------------------ */
/* getting and setting values                                                                  */
/* ------------------------------------------------------------------------------------------ */
static int settable(Instance *c, Kind k) {
    Phase p = c->m.phase;
    if (k == K_PARAM) return p == ST_INSTANTIATED || p == ST_INIT;
    if (k == K_INPUT) return p == ST_INSTANTIATED || p == ST_INIT || p == ST_STEP;
    return 0;
}

fmi2Status fmi2GetReal(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                       fmi2Real value[]) {
    Instance *c = (Instance *)comp;
    size_t k;
    if (!c) return fmi2Error;
    for (k = 0; k < nvr; ++k) {
        if (real_kind(vr[k]) == K_NONE) {
            log_msg(c, fmi2Error, "fmi2GetReal: unknown value reference %u", (unsigned)vr[k]);
            return fmi2Error;
        }
        value[k] = c->m.r[vr[k]];
    }
    return fmi2OK;
}

fmi2Status fmi2GetInteger(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                          fmi2Integer value[]) {
    Instance *c = (Instance *)comp;
    size_t k;
    if (!c) return fmi2Error;
    for (k = 0; k < nvr; ++k) {
        if (int_kind(vr[k]) == K_NONE) {
            log_msg(c, fmi2Error, "fmi2GetInteger: unknown value reference %u", (unsigned)vr[k]);
            return fmi2Error;
        }
        value[k] = c->m.i[vr[k] - INT_BASE];
    }
    return fmi2OK;
}

fmi2Status fmi2GetBoolean(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                          fmi2Boolean value[]) {
    Instance *c = (Instance *)comp;
    (void)vr;
    (void)value;
    if (!c) return fmi2Error;
    return nvr == 0 ? fmi2OK : fail(c, "fmi2GetBoolean", "the model has no Boolean variables");
}

fmi2Status fmi2GetString(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                         fmi2String value[]) {
    Instance *c = (Instance *)comp;
    (void)vr;
    (void)value;
    if (!c) return fmi2Error;
    return nvr == 0 ? fmi2OK : fail(c, "fmi2GetString", "the model has no String variables");
}

fmi2Status fmi2SetReal(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                       const fmi2Real value[]) {
    Instance *c = (Instance *)comp;
    size_t k;
    if (!c) return fmi2Error;
    for (k = 0; k < nvr; ++k) {
        Kind kind = real_kind(vr[k]);
        if (kind == K_NONE || kind == K_OUTPUT) {
            log_msg(c, fmi2Error, "fmi2SetReal: value reference %u is not a parameter or input",
                    (unsigned)vr[k]);
            return fmi2Error;
        }
        if (!settable(c, kind)) {
            log_msg(c, fmi2Error, "fmi2SetReal: value reference %u cannot be set now (fixed "
                    "parameters only before fmi2ExitInitializationMode)", (unsigned)vr[k]);
            return fmi2Error;
        }
        c->m.r[vr[k]] = value[k];
    }
    return fmi2OK;
}

fmi2Status fmi2SetInteger(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                          const fmi2Integer value[]) {
    Instance *c = (Instance *)comp;
    size_t k;
    if (!c) return fmi2Error;
    for (k = 0; k < nvr; ++k) {
        Kind kind = int_kind(vr[k]);
        if (kind == K_NONE || kind == K_OUTPUT || !settable(c, kind)) {
            log_msg(c, fmi2Error, "fmi2SetInteger: value reference %u cannot be set now",
                    (unsigned)vr[k]);
            return fmi2Error;
        }
        c->m.i[vr[k] - INT_BASE] = value[k];
    }
    return fmi2OK;
}

fmi2Status fmi2SetBoolean(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                          const fmi2Boolean value[]) {
    Instance *c = (Instance *)comp;
    (void)vr;
    (void)value;
    if (!c) return fmi2Error;
    return nvr == 0 ? fmi2OK : fail(c, "fmi2SetBoolean", "the model has no Boolean variables");
}

fmi2Status fmi2SetString(fmi2Component comp, const fmi2ValueReference vr[], size_t nvr,
                         const fmi2String value[]) {
    Instance *c = (Instance *)comp;
    (void)vr;
    (void)value;
    if (!c) return fmi2Error;
    return nvr == 0 ? fmi2OK : fail(c, "fmi2SetString", "the model has no String variables");
}

#include "fmi2_cosim_tail.inc"
