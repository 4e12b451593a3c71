package openjd

// The limits of the 2023-09 Template Schemas. Where FEATURE_BUNDLE_1 relaxes
// a limit, the relaxed value sits beside it and limits picks between them.
const (
	maxJobName               = 128
	maxJobNameFB1            = 512
	maxIdentifier            = 64
	maxIdentifierFB1         = 512
	maxStepName              = 64
	maxStepNameFB1           = 512
	maxEnvName               = 64
	maxEnvNameFB1            = 512
	maxParams                = 50
	maxParamsFB1             = 200
	maxFilename              = 64
	maxFilenameFB1           = 256
	maxDescription           = 2048
	maxLabel                 = 64
	maxParamStringValue      = 1024
	maxFileFilters           = 20
	maxFileFilterPattern     = 20
	maxHostRequirements      = 50
	maxAttributeValues       = 50
	maxCapabilityName        = 100
	maxAttributeValue        = 100
	maxTaskParams            = 16
	maxRangeItems            = 1024
	maxTaskStringValue       = 1024
	maxCombination           = 1280
	maxEnvVarName            = 256
	maxEnvVarValue           = 2048
	maxNotifyPeriod          = 600
	defaultNotifyPeriodOnRun = 120
	defaultNotifyPeriod      = 30
)

// limits are the limits in force for one template, which depend on the
// extensions it enables.
type limits struct {
	jobName, identifier, stepName, envName, params, filename int
}

func limitsFor(ext extSet) limits {
	if ext.has(FeatureBundle1) {
		return limits{maxJobNameFB1, maxIdentifierFB1, maxStepNameFB1, maxEnvNameFB1, maxParamsFB1, maxFilenameFB1}
	}
	return limits{maxJobName, maxIdentifier, maxStepName, maxEnvName, maxParams, maxFilename}
}
