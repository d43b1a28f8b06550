package fsm

import (
	"time"

	"github.com/conclave-ha/conclave/dynconfig"
)

// The dynamic configuration lives in package dynconfig (a leaf, STYLE.md
// §1). These names keep the code that spells them fsm.* compiling; new code
// should import dynconfig.

type (
	DynamicConfig      = dynconfig.DynamicConfig
	DynamicConfigError = dynconfig.DynamicConfigError
	Slot               = dynconfig.Slot
)

const (
	DefaultTTLSeconds                 = dynconfig.DefaultTTLSeconds
	DefaultLoopWaitSeconds            = dynconfig.DefaultLoopWaitSeconds
	DefaultRetryTimeoutSeconds        = dynconfig.DefaultRetryTimeoutSeconds
	DefaultMaximumLagOnFailover       = dynconfig.DefaultMaximumLagOnFailover
	DefaultPrimaryStartTimeoutSeconds = dynconfig.DefaultPrimaryStartTimeoutSeconds
	DefaultSynchronousNodeCount       = dynconfig.DefaultSynchronousNodeCount
	DefaultUseSlots                   = dynconfig.DefaultUseSlots
	DefaultUsePgRewind                = dynconfig.DefaultUsePgRewind
	DefaultCheckTimeline              = dynconfig.DefaultCheckTimeline
	DefaultMaxTimelinesHistory        = dynconfig.DefaultMaxTimelinesHistory
	DefaultMemberSlotsTTL             = dynconfig.DefaultMemberSlotsTTL
)

func DefaultDynamicConfig() DynamicConfig            { return dynconfig.DefaultDynamicConfig() }
func ValidateDynamicConfig(raw map[string]any) error { return dynconfig.ValidateDynamicConfig(raw) }
func ParseDynamicConfig(raw map[string]any) (DynamicConfig, error) {
	return dynconfig.ParseDynamicConfig(raw)
}
func ParseDynamicConfigWarn(raw map[string]any) (DynamicConfig, []error, error) {
	return dynconfig.ParseDynamicConfigWarn(raw)
}
func DynamicInt(v any) (int64, bool)                { return dynconfig.DynamicInt(v) }
func IsScalarParameter(v any) bool                  { return dynconfig.IsScalarParameter(v) }
func ClosestKey(name string, known []string) string { return dynconfig.ClosestKey(name, known) }
func MergeDynamicPatch(base, patch map[string]any) map[string]any {
	return dynconfig.MergeDynamicPatch(base, patch)
}
func ParseSecondsWithUnit(v any) (time.Duration, error) { return dynconfig.ParseSecondsWithUnit(v) }
