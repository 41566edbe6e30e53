/* Minimal FMI 2.0 co-simulation frame for heatflex's test FMUs.
 * Values live in per-type arrays indexed by value reference; the model file defines
 * MODEL_GUID and the hooks model_defaults / model_init / model_step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fmi2Functions.h"

#define NV 16
typedef struct {
    double r[NV]; int i[NV]; int b[NV];
    int failed;
    char name[128]; char resources[1024];
    const fmi2CallbackFunctions *cb;
} Comp;

static void model_defaults(Comp *c);
static fmi2Status model_instantiated(Comp *c);
static void model_init(Comp *c);
static fmi2Status model_step(Comp *c, double t, double h);

#define LOG(c, st, ...) (c)->cb->logger((c)->cb->componentEnvironment, (c)->name, st, "model", __VA_ARGS__)

/* file:///a%20b/resources -> /a b/resources */
static void uri_to_path(const char *uri, char *out, size_t n) {
    size_t k = 0;
    if (strncmp(uri, "file://", 7) == 0) uri += 7;
    for (; *uri && k + 1 < n; uri++) {
        unsigned v;
        if (uri[0] == '%' && uri[1] && uri[2] && sscanf(uri + 1, "%2x", &v) == 1) { out[k++] = (char)v; uri += 2; }
        else out[k++] = *uri;
    }
    out[k] = 0;
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String res,
                              const fmi2CallbackFunctions *cb, fmi2Boolean vis, fmi2Boolean log) {
    Comp *c = calloc(1, sizeof(Comp));
    (void)vis; (void)log;
    if (!c) return NULL;
    c->cb = cb;
    strncpy(c->name, name ? name : "?", sizeof c->name - 1);
    if (res) uri_to_path(res, c->resources, sizeof c->resources);
    if (type != fmi2CoSimulation || !guid || strcmp(guid, MODEL_GUID) != 0) {
        LOG(c, fmi2Error, "wrong fmuType or GUID %s", guid ? guid : "(null)");
        free(c); return NULL;
    }
    model_defaults(c);
    if (model_instantiated(c) != fmi2OK) { free(c); return NULL; }
    return c;
}
void fmi2FreeInstance(fmi2Component c) { free(c); }
fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean td, fmi2Real tol, fmi2Real t0,
                               fmi2Boolean sd, fmi2Real t1) { return fmi2OK; }
fmi2Status fmi2EnterInitializationMode(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2ExitInitializationMode(fmi2Component c) { model_init((Comp *)c); return fmi2OK; }
fmi2Status fmi2Terminate(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2Reset(fmi2Component c) { model_defaults((Comp *)c); return fmi2OK; }

#define GETSET(T, F, arr)                                                                    \
fmi2Status fmi2Get##F(fmi2Component c, const fmi2ValueReference vr[], size_t n, T v[]) {     \
    Comp *m = c;                                                                             \
    for (size_t k = 0; k < n; k++) { if (vr[k] >= NV) return fmi2Error; v[k] = m->arr[vr[k]]; } \
    return fmi2OK; }                                                                         \
fmi2Status fmi2Set##F(fmi2Component c, const fmi2ValueReference vr[], size_t n, const T v[]) { \
    Comp *m = c;                                                                             \
    for (size_t k = 0; k < n; k++) { if (vr[k] >= NV) return fmi2Error; m->arr[vr[k]] = v[k]; } \
    return fmi2OK; }
GETSET(fmi2Real, Real, r)
GETSET(fmi2Integer, Integer, i)
GETSET(fmi2Boolean, Boolean, b)

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real h, fmi2Boolean noSet) {
    Comp *m = c;
    fmi2Status st;
    if (m->failed) { LOG(m, fmi2Error, "doStep after an error"); return fmi2Error; }
    st = model_step(m, t, h);
    if (st >= fmi2Error) m->failed = 1;
    return st;
}
