/* The FMI 2.0 functions these test FMUs do not support.  Every FMI function must be exported
 * (fmpy loads them all); these never run in the tests.  Defined without the FMI header as
 * int f(void) -- harmless on the x86-64/aarch64 C calling conventions; returns fmi2Error. */
#define S(name) int name(void) { return 3; }
S(fmi2GetTypesPlatform) S(fmi2GetVersion) S(fmi2SetDebugLogging) S(fmi2GetString)
S(fmi2SetString) S(fmi2GetFMUstate) S(fmi2SetFMUstate) S(fmi2FreeFMUstate)
S(fmi2SerializedFMUstateSize) S(fmi2SerializeFMUstate) S(fmi2DeSerializeFMUstate)
S(fmi2GetDirectionalDerivative) S(fmi2SetRealInputDerivatives) S(fmi2GetRealOutputDerivatives)
S(fmi2CancelStep) S(fmi2GetStatus) S(fmi2GetRealStatus) S(fmi2GetIntegerStatus)
S(fmi2GetBooleanStatus) S(fmi2GetStringStatus)
