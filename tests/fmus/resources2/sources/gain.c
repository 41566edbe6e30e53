/* resources2: FMI 2.0 CS test FMU that reads "gain <value>" from resources/data.txt at
 * instantiation (through fmuResourceLocation).
 * Real: 0 P_in [W] (input)  1 P_out [W] (output) = gain * P_in
 *       2 T_in [K] (input)  3 T_out [K] (output) = T_in + 1   4 gain (calculatedParameter) */
#define MODEL_GUID "{resources2-0001}"
#include "frame2.h"

static void model_defaults(Comp *c) { c->r[0] = 0.0; c->r[2] = 293.15; }
static fmi2Status model_instantiated(Comp *c) {
    char path[1200];
    FILE *f;
    snprintf(path, sizeof path, "%s/data.txt", c->resources);
    f = fopen(path, "r");
    if (!f) { LOG(c, fmi2Error, "cannot open %s", path); return fmi2Error; }
    if (fscanf(f, "gain %lf", &c->r[4]) != 1) { LOG(c, fmi2Error, "no gain in %s", path); fclose(f); return fmi2Error; }
    fclose(f);
    return fmi2OK;
}
static void model_init(Comp *c) { c->r[1] = c->r[4] * c->r[0]; c->r[3] = c->r[2] + 1.0; }
static fmi2Status model_step(Comp *c, double t, double h) { model_init(c); return fmi2OK; }
