/* gain3: FMI 3.0 CS test FMU.
 * Float64: 1 u [degC] (input)  2 k (parameter, 2)  3 y [degC] (output) = k * u
 *          4 coeffs[3] (parameter array, 1 2 3)     5 s (output) = sum(coeffs) * u
 * Int32:   6 n (output, number of steps)             Boolean: 7 pos (output, y > 0) */
#include <stdlib.h>
#include <string.h>
#include "fmi3Functions.h"

typedef struct { double u, k, y, c[3], s; int n; bool pos; fmi3InstanceEnvironment env;
                 fmi3LogMessageCallback log; } M;

fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String res,
    fmi3Boolean vis, fmi3Boolean logOn, fmi3Boolean evm, fmi3Boolean early,
    const fmi3ValueReference req[], size_t nreq, fmi3InstanceEnvironment env,
    fmi3LogMessageCallback log, fmi3IntermediateUpdateCallback iu) {
    M *m;
    if (!token || strcmp(token, "{gain3-0001}") != 0) return NULL;
    m = calloc(1, sizeof(M));
    if (!m) return NULL;
    m->k = 2.0; m->c[0] = 1.0; m->c[1] = 2.0; m->c[2] = 3.0; m->env = env; m->log = log;
    return m;
}
void fmi3FreeInstance(fmi3Instance i) { free(i); }
fmi3Status fmi3SetDebugLogging(fmi3Instance i, fmi3Boolean on, size_t n, const fmi3String c[]) { return fmi3OK; }
static void update(M *m) { m->y = m->k * m->u; m->s = (m->c[0] + m->c[1] + m->c[2]) * m->u; m->pos = m->y > 0; }
fmi3Status fmi3EnterInitializationMode(fmi3Instance i, fmi3Boolean td, fmi3Float64 tol, fmi3Float64 t0,
                                       fmi3Boolean sd, fmi3Float64 t1) { return fmi3OK; }
fmi3Status fmi3ExitInitializationMode(fmi3Instance i) { update(i); return fmi3OK; }
fmi3Status fmi3Terminate(fmi3Instance i) { return fmi3OK; }
fmi3Status fmi3Reset(fmi3Instance i) { return fmi3OK; }

static double *fref(M *m, fmi3ValueReference vr, size_t *len) {
    *len = 1;
    switch (vr) {
    case 1: return &m->u; case 2: return &m->k; case 3: return &m->y; case 5: return &m->s;
    case 4: *len = 3; return m->c;
    default: return NULL;
    }
}
fmi3Status fmi3GetFloat64(fmi3Instance i, const fmi3ValueReference vr[], size_t nvr, fmi3Float64 v[], size_t nv) {
    size_t k, j, len, p = 0;
    for (k = 0; k < nvr; k++) {
        double *x = fref(i, vr[k], &len);
        if (!x || p + len > nv) return fmi3Error;
        for (j = 0; j < len; j++) v[p++] = x[j];
    }
    return fmi3OK;
}
fmi3Status fmi3SetFloat64(fmi3Instance i, const fmi3ValueReference vr[], size_t nvr, const fmi3Float64 v[], size_t nv) {
    size_t k, j, len, p = 0;
    for (k = 0; k < nvr; k++) {
        double *x = fref(i, vr[k], &len);
        if (!x || p + len > nv || vr[k] == 3 || vr[k] == 5) return fmi3Error;
        for (j = 0; j < len; j++) x[j] = v[p++];
    }
    return fmi3OK;
}
fmi3Status fmi3GetInt32(fmi3Instance i, const fmi3ValueReference vr[], size_t nvr, fmi3Int32 v[], size_t nv) {
    for (size_t k = 0; k < nvr; k++) { if (vr[k] != 6) return fmi3Error; v[k] = ((M *)i)->n; }
    return fmi3OK;
}
fmi3Status fmi3SetInt32(fmi3Instance i, const fmi3ValueReference vr[], size_t nvr, const fmi3Int32 v[], size_t nv) { return fmi3Error; }
fmi3Status fmi3GetBoolean(fmi3Instance i, const fmi3ValueReference vr[], size_t nvr, fmi3Boolean v[], size_t nv) {
    for (size_t k = 0; k < nvr; k++) { if (vr[k] != 7) return fmi3Error; v[k] = ((M *)i)->pos; }
    return fmi3OK;
}
fmi3Status fmi3SetBoolean(fmi3Instance i, const fmi3ValueReference vr[], size_t nvr, const fmi3Boolean v[], size_t nv) { return fmi3Error; }
fmi3Status fmi3DoStep(fmi3Instance i, fmi3Float64 t, fmi3Float64 h, fmi3Boolean noSet,
                      fmi3Boolean *ev, fmi3Boolean *term, fmi3Boolean *early, fmi3Float64 *last) {
    M *m = i;
    update(m); m->n++;
    *ev = false; *term = false; *early = false; *last = t + h;
    return fmi3OK;
}
