/* The FMI 3.0 functions this test FMU does not support.  Every FMI function must be exported
 * (fmpy loads them all); these never run in the tests.  Defined without the FMI header as
 * int f(void) -- harmless on the x86-64/aarch64 C calling conventions; returns fmi3Error. */
#define S(name) int name(void) { return 3; }
S(fmi3ActivateModelPartition) S(fmi3CompletedIntegratorStep) S(fmi3DeserializeFMUState)
S(fmi3EnterConfigurationMode) S(fmi3EnterContinuousTimeMode) S(fmi3EnterEventMode)
S(fmi3EnterStepMode) S(fmi3EvaluateDiscreteStates) S(fmi3ExitConfigurationMode)
S(fmi3FreeFMUState) S(fmi3GetAdjointDerivative) S(fmi3GetBinary) S(fmi3GetClock)
S(fmi3GetContinuousStateDerivatives) S(fmi3GetContinuousStates) S(fmi3GetDirectionalDerivative)
S(fmi3GetEventIndicators) S(fmi3GetFMUState) S(fmi3GetFloat32) S(fmi3GetInt16) S(fmi3GetInt64)
S(fmi3GetInt8) S(fmi3GetIntervalDecimal) S(fmi3GetIntervalFraction)
S(fmi3GetNominalsOfContinuousStates) S(fmi3GetNumberOfContinuousStates)
S(fmi3GetNumberOfEventIndicators) S(fmi3GetNumberOfVariableDependencies)
S(fmi3GetOutputDerivatives) S(fmi3GetShiftDecimal) S(fmi3GetShiftFraction) S(fmi3GetString)
S(fmi3GetUInt16) S(fmi3GetUInt32) S(fmi3GetUInt64) S(fmi3GetUInt8) S(fmi3GetVariableDependencies)
S(fmi3InstantiateModelExchange) S(fmi3InstantiateScheduledExecution) S(fmi3SerializeFMUState)
S(fmi3SerializedFMUStateSize) S(fmi3SetBinary) S(fmi3SetClock) S(fmi3SetContinuousStates)
S(fmi3SetFMUState) S(fmi3SetFloat32) S(fmi3SetInt16) S(fmi3SetInt64) S(fmi3SetInt8)
S(fmi3SetIntervalDecimal) S(fmi3SetIntervalFraction) S(fmi3SetShiftDecimal)
S(fmi3SetShiftFraction) S(fmi3SetString) S(fmi3SetTime) S(fmi3SetUInt16) S(fmi3SetUInt32)
S(fmi3SetUInt64) S(fmi3SetUInt8) S(fmi3UpdateDiscreteStates)
const char *fmi3GetVersion(void) { return "3.0"; }
