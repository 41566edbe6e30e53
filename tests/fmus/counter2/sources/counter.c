/* counter2: FMI 2.0 CS test FMU without units.
 * Real:    0 rate (input)  1 threshold (parameter)  2 level (output, sawtooth)
 * Integer: 0 inc (input)   1 count (output)          2 events (output)
 * Boolean: 0 enable (input) 1 high (output: level >= threshold / 2)
 * level integrates rate; when it reaches threshold (a state event inside the step) it falls
 * back by threshold, so the output jumps.  inc < 0 -> fmi2Error, rate > 1000 -> fmi2Discard. */
#include <math.h>
#define MODEL_GUID "{counter2-0001}"
#include "frame2.h"

static void model_defaults(Comp *c) { c->r[0] = 1.0; c->r[1] = 5.0; c->i[0] = 1; c->b[0] = 1; }
static fmi2Status model_instantiated(Comp *c) { return fmi2OK; }
static void model_init(Comp *c) { c->r[2] = 0.0; c->i[1] = 0; c->i[2] = 0; c->b[1] = 0; }

static fmi2Status model_step(Comp *c, double t, double h) {
    double thr = c->r[1], x;
    if (c->i[0] < 0) { LOG(c, fmi2Error, "inc must be >= 0, got %d at t=%g", c->i[0], t); return fmi2Error; }
    if (c->r[0] > 1000.0) { LOG(c, fmi2Discard, "rate %g too large at t=%g", c->r[0], t); return fmi2Discard; }
    if (c->b[0]) c->i[1] += c->i[0];
    x = c->r[2] + c->r[0] * h;
    if (x >= thr) { double k = floor(x / thr); c->i[2] += (int)k; x -= k * thr; }
    c->r[2] = x;
    c->b[1] = x >= thr / 2;
    return fmi2OK;
}
