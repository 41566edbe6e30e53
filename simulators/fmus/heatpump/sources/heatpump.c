/* heatflex bundled heat-pump FMU — FMI 2.0 co-simulation.
 *
 * The numeric twin of simulators/heatpump.py (HeatPump.step, one unit): iPower COP interpolation
 * between a 35 degC and a 55 degC line, heating curve per emitter, inverter compressor with
 * minimum modulation, electric backup above compressor capacity, minimum on/off times, SG-Ready
 * states 1..4, air-source capacity derating. On top, three dynamics a co-simulation model should
 * have (each off when its parameter is 0; then one doStep reproduces one native step exactly):
 *
 *   - tau_condenser: first-order lag between the heat produced (compressor + backup) and the
 *     heat delivered to the water circuit, dQ_th/dt = (Q_prod - Q_th)/tau (thermal mass of the
 *     condenser, the internal water volume and the flow pipe);
 *   - startup_ramp_time: after a start the compressor output (and so its power) is limited to
 *     capacity * t_on / startup_ramp_time (inverter soft start / speed ramp);
 *   - defrost (air source only): time-averaged reverse-cycle defrost loss f(T_out), a trapezoid
 *     0 at <= T_defrost_lo, rising to defrost_loss_max at T_defrost_peak_lo, flat to
 *     T_defrost_peak_hi, back to 0 at T_defrost_hi; capacity and COP are multiplied by (1 - f).
 *
 * Inside a doStep the on/off decision is taken once at its start (as in the native model); the
 * ramp and the lag are integrated exactly (piecewise-linear production, analytic lag response),
 * so there is no internal sub-step and results do not depend on a solver tolerance.
 * docs/models/heatpump-fmu.md describes equations, parameters and sources.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi2Functions.h"
#include "heatpump.h"

#define T0_K 273.15           /* 0 degC in K */
#define T_SUP_LO_C 35.0       /* COP lines' supply temperatures, degC */
#define T_SUP_HI_C 55.0
#define T_SUP_MIN_C 30.0      /* lowest supply temperature of the model, degC */
#define T_SRC_MIN_C (-20.0)   /* source-temperature validity range, degC */
#define T_SRC_MAX_C 20.0
#define T_GROUND_FLOOR_C 0.0  /* ground temperature = max(T_out_168h, 0 degC) */
#define T_DESIGN_C (-12.0)    /* design outdoor temperature, degC */
#define STATE_MAGIC 0x48504d31u /* "HPM1": serialized FMU state tag */
#define MODEL_NAME "heatflex_heatpump"

typedef enum { ST_INSTANTIATED, ST_INIT, ST_STEP, ST_TERMINATED, ST_ERROR } Phase;

/* Everything that defines the simulation state (copied by fmi2GetFMUstate). */
typedef struct {
    double r[N_REAL];
    int i[N_INTEGER];
    int b[N_BOOLEAN];
    /* derived at fmi2ExitInitializationMode */
    double q_comp_design, q_bu_max, inv_bu_eff, a35, b35, a55, b55, c0, c1, sup_hi;
    /* dynamic state */
    int on;              /* compressor on during the last step */
    double t_state;      /* time in the current on/off state at the end of the last step, s */
    int starts;
    double q_out;        /* delivered heat at the end of the last step (lag state), W */
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
    if (vr <= VR_T_DEFROST_HI) return K_PARAM;
    if (vr >= VR_Q_REQ && vr <= VR_T_OUT_168H) return K_INPUT;
    if (vr >= VR_P_EL && vr < N_REAL) return K_OUTPUT;
    return K_NONE;
}

static Kind int_kind(fmi2ValueReference vr) {
    switch (vr) {
    case VR_SOURCE: case VR_EMITTER: return K_PARAM;
    case VR_SG_READY_STATE: return K_INPUT;
    case VR_STARTS: return K_OUTPUT;
    default: return K_NONE;
    }
}

static Kind bool_kind(fmi2ValueReference vr) {
    switch (vr) {
    case VR_DHW_MODE: return K_INPUT;
    case VR_ON: return K_OUTPUT;
    default: return K_NONE;
    }
}

/* Start values (= modelDescription.xml). COP lines: the "Queen 9" ground-source fit of
 * simulators/heatpump.py (cop_lines("ground")); the Python side passes the fitted lines. */
static void set_defaults(Model *m) {
    memset(m, 0, sizeof *m);
    m->r[VR_Q_RATED] = 7000.0;
    m->r[VR_COMPRESSOR_SHARE] = 0.8;
    m->r[VR_BACKUP_EFFICIENCY] = 0.99;
    m->r[VR_MODULATION_MIN] = 0.3;
    m->r[VR_MIN_ON_TIME] = 600.0;
    m->r[VR_MIN_OFF_TIME] = 600.0;
    m->r[VR_COP_CORRECTION] = 0.95;
    m->r[VR_COP_YEAR_FACTOR] = 1.0;
    m->r[VR_A35] = 3.7999999999999976;
    m->r[VR_B35] = 0.10000000000000019;
    m->r[VR_A55] = 2.5100000000000007;
    m->r[VR_B55] = 0.052;
    m->r[VR_T_DHW_SUPPLY] = T0_K + 55.0;
    m->r[VR_AIR_CAP_SLOPE] = 0.02;
    m->r[VR_AIR_CAP_MAX] = 1.3;
    m->r[VR_TAU_CONDENSER] = 60.0;
    m->r[VR_STARTUP_RAMP_TIME] = 180.0;
    m->r[VR_DEFROST_LOSS_MAX] = 0.10;
    m->r[VR_T_DEFROST_LO] = T0_K - 15.0;
    m->r[VR_T_DEFROST_PEAK_LO] = T0_K + 0.0;
    m->r[VR_T_DEFROST_PEAK_HI] = T0_K + 3.0;
    m->r[VR_T_DEFROST_HI] = T0_K + 5.0;
    m->r[VR_Q_REQ] = 0.0;
    m->r[VR_T_OUT] = T0_K;
    m->r[VR_T_OUT_24H] = T0_K;
    m->r[VR_T_OUT_168H] = T0_K;
    m->i[VR_SOURCE - INT_BASE] = 0;
    m->i[VR_EMITTER - INT_BASE] = 0;
    m->i[VR_SG_READY_STATE - INT_BASE] = 2;
    m->b[VR_DHW_MODE - BOOL_BASE] = 0;
    m->on = 0;
    m->t_state = INFINITY; /* initially off and free to start */
    m->phase = ST_INSTANTIATED;
}

/* ------------------------------------------------------------------------------------------ */
/* physics                                                                                     */
/* ------------------------------------------------------------------------------------------ */
static double clip(double x, double lo, double hi) {
    x = x < lo ? lo : x; /* = min(max(x, lo), hi), as numpy in the native model */
    return x > hi ? hi : x;
}

static int is_air(const Model *m) { return m->i[VR_SOURCE - INT_BASE] == 1; }

/* COP of the iPower interpolation for T_src, T_sup already in range, degC (native order). */
static double cop_in_range(const Model *m, double ts, double tp) {
    double cop55 = m->a55 + m->b55 * ts;
    double per_K = (m->a35 + m->b35 * ts - cop55) / (T_SUP_HI_C - T_SUP_LO_C);
    return cop55 + per_K * (T_SUP_HI_C - tp);
}

static double supply_curve_C(const Model *m, double t24_C) {
    return clip(m->c0 + m->c1 * t24_C, T_SUP_MIN_C, m->sup_hi);
}

/* Time-averaged defrost loss fraction at outdoor temperature t_C (air source only). */
static double defrost_loss(const Model *m, double t_C) {
    double fmax = m->r[VR_DEFROST_LOSS_MAX];
    double lo = m->r[VR_T_DEFROST_LO] - T0_K, plo = m->r[VR_T_DEFROST_PEAK_LO] - T0_K;
    double phi = m->r[VR_T_DEFROST_PEAK_HI] - T0_K, hi = m->r[VR_T_DEFROST_HI] - T0_K;
    if (!is_air(m) || fmax <= 0.0 || t_C <= lo || t_C >= hi) return 0.0;
    if (t_C < plo) return fmax * (t_C - lo) / (plo - lo);
    if (t_C <= phi) return fmax;
    return fmax * (hi - t_C) / (hi - phi);
}

/* Integral over [0, h] of the first-order lag response y to the input u0 + s*t, starting at
 * *y; advances *y to y(h). Exact: y(t) = u0 + s*t - s*tau + (y0 - u0 + s*tau)*exp(-t/tau). */
static double lag_segment(double *y, double u0, double s, double h, double tau) {
    double x, a, integral;
    if (h <= 0.0) return 0.0;
    if (tau <= 0.0) {
        *y = u0 + s * h;
        return (u0 + 0.5 * s * h) * h;
    }
    x = h / tau;
    a = *y - u0 + s * tau;
    integral = (u0 - s * tau) * h + 0.5 * s * h * h + a * tau * (-expm1(-x));
    *y = u0 + s * h - s * tau + a * exp(-x);
    return integral;
}

static const char *check_parameters(Model *m, char *buf, size_t n) {
    struct { int vr; double lo, hi; int lo_open; const char *name; } rng[] = {
        {VR_Q_RATED, 0.0, INFINITY, 1, "Q_rated"},
        {VR_COMPRESSOR_SHARE, 0.0, 1.0, 1, "compressor_share"},
        {VR_BACKUP_EFFICIENCY, 0.0, 1.0, 1, "backup_efficiency"},
        {VR_MODULATION_MIN, 0.0, 1.0, 1, "modulation_min"},
        {VR_MIN_ON_TIME, 0.0, INFINITY, 0, "min_on_time"},
        {VR_MIN_OFF_TIME, 0.0, INFINITY, 0, "min_off_time"},
        {VR_COP_CORRECTION, 0.0, 2.0, 1, "cop_correction"},
        {VR_COP_YEAR_FACTOR, 0.0, 2.0, 1, "cop_year_factor"},
        {VR_A35, -INFINITY, INFINITY, 0, "a35"},
        {VR_B35, -INFINITY, INFINITY, 0, "b35"},
        {VR_A55, -INFINITY, INFINITY, 0, "a55"},
        {VR_B55, -INFINITY, INFINITY, 0, "b55"},
        {VR_T_DHW_SUPPLY, T0_K + T_SUP_MIN_C, T0_K + T_SUP_HI_C, 0, "T_dhw_supply"},
        {VR_AIR_CAP_SLOPE, 0.0, 0.2, 0, "air_capacity_slope"},
        {VR_AIR_CAP_MAX, 1.0, 3.0, 0, "air_capacity_max"},
        {VR_TAU_CONDENSER, 0.0, 3600.0, 0, "tau_condenser"},
        {VR_STARTUP_RAMP_TIME, 0.0, 3600.0, 0, "startup_ramp_time"},
        {VR_DEFROST_LOSS_MAX, 0.0, 0.5, 0, "defrost_loss_max"},
        {VR_T_DEFROST_LO, T0_K - 40.0, T0_K + 20.0, 0, "T_defrost_lo"},
        {VR_T_DEFROST_PEAK_LO, T0_K - 40.0, T0_K + 20.0, 0, "T_defrost_peak_lo"},
        {VR_T_DEFROST_PEAK_HI, T0_K - 40.0, T0_K + 20.0, 0, "T_defrost_peak_hi"},
        {VR_T_DEFROST_HI, T0_K - 40.0, T0_K + 20.0, 0, "T_defrost_hi"},
    };
    size_t k;
    int src = m->i[VR_SOURCE - INT_BASE], emi = m->i[VR_EMITTER - INT_BASE];
    for (k = 0; k < sizeof rng / sizeof rng[0]; ++k) {
        double v = m->r[rng[k].vr];
        int ok = isfinite(v) && (rng[k].lo_open ? v > rng[k].lo : v >= rng[k].lo) && v <= rng[k].hi;
        if (!ok) {
            snprintf(buf, n, "parameter %s = %g is out of range; allowed %s%g, %g]", rng[k].name,
                     v, rng[k].lo_open ? "(" : "[", rng[k].lo, rng[k].hi);
            return buf;
        }
    }
    if (src != 0 && src != 1) {
        snprintf(buf, n, "parameter source = %d is not allowed; use 0 (ground) or 1 (air)", src);
        return buf;
    }
    if (emi != 0 && emi != 1) {
        snprintf(buf, n, "parameter emitter = %d is not allowed; use 0 (radiator) or 1 (floor)",
                 emi);
        return buf;
    }
    if (!(m->r[VR_T_DEFROST_LO] <= m->r[VR_T_DEFROST_PEAK_LO] &&
          m->r[VR_T_DEFROST_PEAK_LO] <= m->r[VR_T_DEFROST_PEAK_HI] &&
          m->r[VR_T_DEFROST_PEAK_HI] <= m->r[VR_T_DEFROST_HI])) {
        snprintf(buf, n, "parameters T_defrost_lo <= T_defrost_peak_lo <= T_defrost_peak_hi <= "
                         "T_defrost_hi must hold");
        return buf;
    }
    {   /* the COP is bilinear in (T_src, T_sup): positive at the corners -> positive inside */
        double f = m->r[VR_COP_CORRECTION] * m->r[VR_COP_YEAR_FACTOR];
        double ts[2] = {T_SRC_MIN_C, T_SRC_MAX_C}, tp[2] = {T_SUP_MIN_C, T_SUP_HI_C};
        int a, b;
        for (a = 0; a < 2; ++a)
            for (b = 0; b < 2; ++b) {
                double cop55 = m->r[VR_A55] + m->r[VR_B55] * ts[a];
                double cop35 = m->r[VR_A35] + m->r[VR_B35] * ts[a];
                double cop = f * (cop55 + (cop35 - cop55) * (T_SUP_HI_C - tp[b]) / 20.0);
                if (!(cop > 0.5)) {
                    snprintf(buf, n, "parameters a35, b35, a55, b55 give COP = %g at T_src = %g "
                             "degC, T_sup = %g degC; the COP must exceed 0.5 on "
                             "[-20, 20] x [30, 55] degC", cop, ts[a], tp[b]);
                    return buf;
                }
            }
    }
    return NULL;
}

/* Derived constants, as in HeatPump.__init__ (same arithmetic order). */
static void derive(Model *m) {
    double factor = m->r[VR_COP_CORRECTION] * m->r[VR_COP_YEAR_FACTOR];
    double cold, warm, slope;
    double share = m->r[VR_COMPRESSOR_SHARE];
    m->q_comp_design = m->r[VR_Q_RATED] * share;
    m->q_bu_max = m->r[VR_Q_RATED] * (1.0 - share);
    m->inv_bu_eff = 1.0 / m->r[VR_BACKUP_EFFICIENCY];
    m->a35 = factor * m->r[VR_A35];
    m->b35 = factor * m->r[VR_B35];
    m->a55 = factor * m->r[VR_A55];
    m->b55 = factor * m->r[VR_B55];
    /* heating curve through (-20 degC, cold) and (+20 degC, warm): radiator 55 -> 30 degC,
     * floor 42.5 -> 30 degC (iPower endpoints, linear shape) */
    cold = m->i[VR_EMITTER - INT_BASE] == 1 ? 42.5 : 55.0;
    warm = 30.0;
    slope = (warm - cold) / (20.0 - (-20.0));
    m->c0 = cold - slope * (-20.0);
    m->c1 = slope;
    m->sup_hi = cold;
}

static double supply_now_C(const Model *m) {
    return m->b[VR_DHW_MODE - BOOL_BASE] ? m->r[VR_T_DHW_SUPPLY] - T0_K
                                         : supply_curve_C(m, m->r[VR_T_OUT_24H] - T0_K);
}

/* One communication step of length dt (s); the step logic of HeatPump.step plus dynamics. */
static fmi2Status model_step(Instance *c, double dt) {
    Model *m = &c->m;
    double *r = m->r;
    double q_req = r[VR_Q_REQ];
    double t_out = r[VR_T_OUT] - T0_K, t_24 = r[VR_T_OUT_24H] - T0_K;
    double t_168 = r[VR_T_OUT_168H] - T0_K;
    int sg = m->i[VR_SG_READY_STATE - INT_BASE], dhw = m->b[VR_DHW_MODE - BOOL_BASE] != 0;
    int air = is_air(m), blocked, forced, was_on, want, keep, start, new_on;
    double t_src, t_sup, cop_c, t_state, t_on0, q_cap, q_min, q_tgt, q_comp, q_bu, f_def;
    double q_comp_mean, p_comp, p_bu, p_el, q_th, ramp = r[VR_STARTUP_RAMP_TIME];
    double tau = r[VR_TAU_CONDENSER];

    if (!(isfinite(q_req) && q_req >= 0.0)) {
        log_msg(c, fmi2Error, "fmi2DoStep: input Q_req = %g W is not allowed; requests must be "
                "finite and >= 0", q_req);
        return fmi2Error;
    }
    if (!(isfinite(t_out) && isfinite(t_24) && isfinite(t_168))) {
        log_msg(c, fmi2Error, "fmi2DoStep: inputs T_out, T_out_24h, T_out_168h must be finite "
                "(got %g, %g, %g K)", r[VR_T_OUT], r[VR_T_OUT_24H], r[VR_T_OUT_168H]);
        return fmi2Error;
    }
    if (sg < 1 || sg > 4) {
        log_msg(c, fmi2Error, "fmi2DoStep: input sg_ready_state = %d is not allowed; use one of "
                "1, 2, 3, 4", sg);
        return fmi2Error;
    }
    blocked = sg == 1;
    forced = sg == 4;

    /* temperatures and the field COP of the compressor */
    t_src = air ? clip(t_out, T_SRC_MIN_C, T_SRC_MAX_C)
                : clip(t_168, T_GROUND_FLOOR_C, T_SRC_MAX_C);
    t_sup = dhw ? r[VR_T_DHW_SUPPLY] - T0_K : supply_curve_C(m, t_24);
    cop_c = cop_in_range(m, t_src, t_sup);

    /* on/off decision with anti-short-cycle times and SG-Ready overrides */
    was_on = m->on;
    t_state = m->t_state;
    want = q_req > 0.0 || forced;
    keep = was_on && (want || t_state < r[VR_MIN_ON_TIME]);
    start = !was_on && want && t_state >= r[VR_MIN_OFF_TIME];
    new_on = (keep || start) && !blocked;
    t_on0 = (new_on && was_on) ? t_state : 0.0; /* run time at the start of this step */
    m->t_state = (new_on != was_on) ? dt : t_state + dt;
    if (new_on && !was_on) {
        m->starts += 1;
        log_msg(c, fmi2OK, "t = %g s: compressor start (%d)", m->time, m->starts);
    } else if (was_on && !new_on) {
        log_msg(c, fmi2OK, "t = %g s: compressor stop", m->time);
    }
    m->on = new_on;

    /* capacity (air: derated with T_out), defrost loss on capacity and COP */
    q_cap = m->q_comp_design;
    if (air) q_cap = m->q_comp_design * clip(1.0 + r[VR_AIR_CAP_SLOPE] * (t_out - T_DESIGN_C),
                                             0.0, r[VR_AIR_CAP_MAX]);
    f_def = defrost_loss(m, t_out);
    if (f_def > 0.0) {
        q_cap *= 1.0 - f_def;
        cop_c *= 1.0 - f_def;
    }

    /* heat split: compressor first within [min modulation, capacity], backup above capacity */
    q_min = r[VR_MODULATION_MIN] * (air ? q_cap : m->q_comp_design);
    q_tgt = forced ? q_cap : clip(q_req, q_min, q_cap);
    q_comp = new_on ? q_tgt : 0.0;
    q_bu = blocked ? 0.0 : clip(q_req - q_cap, 0.0, m->q_bu_max);

    /* start-up ramp: output limited to q_cap * t_on / ramp; production piecewise linear:
     * [0, tx) rising from q0 with slope q_cap/ramp, then q_comp until the end of the step */
    q_comp_mean = q_comp;
    {
        double tx = 0.0, q0 = 0.0, slope = 0.0, integral;
        if (new_on && ramp > 0.0 && q_cap > 0.0) {
            tx = ramp * q_comp / q_cap - t_on0;
            tx = tx > dt ? dt : tx;
            if (tx > 0.0) {
                slope = q_cap / ramp;
                q0 = slope * t_on0;
                q_comp_mean = ((q0 + 0.5 * slope * tx) * tx + q_comp * (dt - tx)) / dt;
            } else {
                tx = 0.0;
            }
        }
        if (tau > 0.0) { /* condenser lag of the total production, integrated exactly */
            integral = lag_segment(&m->q_out, q0 + q_bu, slope, tx, tau);
            integral += lag_segment(&m->q_out, q_comp + q_bu, 0.0, dt - tx, tau);
            q_th = integral / dt;
        } else {
            q_th = q_comp_mean + q_bu;
            m->q_out = q_comp + q_bu;
        }
    }
    p_comp = q_comp_mean / cop_c;
    p_bu = q_bu * m->inv_bu_eff;
    p_el = p_comp + p_bu;

    r[VR_P_EL] = p_el;
    r[VR_P_EL_COMPRESSOR] = p_comp;
    r[VR_P_BACKUP] = p_bu;
    r[VR_Q_TH] = q_th;
    r[VR_Q_SH] = dhw ? 0.0 : q_th;
    r[VR_Q_DHW] = dhw ? q_th : 0.0;
    r[VR_Q_BACKUP] = q_bu;
    r[VR_COP] = p_el > 0.0 ? q_th / p_el : 0.0;
    r[VR_T_SUPPLY] = t_sup + T0_K;
    r[VR_MODULATION_FRAC] = q_cap > 0.0 ? q_comp_mean / q_cap : 0.0;
    r[VR_Q_COMPRESSOR] = q_comp_mean;
    r[VR_DEFROST_LOSS_FRAC] = f_def;
    m->i[VR_STARTS - INT_BASE] = m->starts;
    m->b[VR_ON - BOOL_BASE] = new_on;
    return fmi2OK;
}

#define MODEL_GUID HP_GUID
static void model_initialized(Model *m) {
    derive(m);
    m->r[VR_T_SUPPLY] = supply_now_C(m) + T0_K;
}

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
    size_t k;
    if (!c) return fmi2Error;
    for (k = 0; k < nvr; ++k) {
        if (bool_kind(vr[k]) == K_NONE) {
            log_msg(c, fmi2Error, "fmi2GetBoolean: unknown value reference %u", (unsigned)vr[k]);
            return fmi2Error;
        }
        value[k] = c->m.b[vr[k] - BOOL_BASE] ? fmi2True : fmi2False;
    }
    return fmi2OK;
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
    size_t k;
    if (!c) return fmi2Error;
    for (k = 0; k < nvr; ++k) {
        Kind kind = bool_kind(vr[k]);
        if (kind == K_NONE || kind == K_OUTPUT || !settable(c, kind)) {
            log_msg(c, fmi2Error, "fmi2SetBoolean: value reference %u cannot be set now",
                    (unsigned)vr[k]);
            return fmi2Error;
        }
        c->m.b[vr[k] - BOOL_BASE] = value[k] != fmi2False;
    }
    return fmi2OK;
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
