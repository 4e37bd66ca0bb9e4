package compiler

import "testing"

// A release pins the agent image to itself, so a runner's if-not-present
// pull policy cannot keep an older agent; development builds have no image
// of their own and use :latest.
func TestAgentImageFor(t *testing.T) {
	for v, want := range map[string]string{
		"1.4.2":                  AgentImageRepo + ":1.4.2",
		"v1.4.2":                 AgentImageRepo + ":1.4.2",
		"2.0.0-rc.1":             AgentImageRepo + ":2.0.0-rc.1",
		"dev":                    DefaultAgentImage,
		"":                       DefaultAgentImage,
		"v1.4.2-3-gabc1234":      DefaultAgentImage,
		"1.4.3-next":             DefaultAgentImage,
		"v1.4.2-dirty":           DefaultAgentImage,
		"v0.0.0-20260101-abcdef": DefaultAgentImage,
	} {
		if got := AgentImageFor(v); got != want {
			t.Errorf("AgentImageFor(%q) = %q, want %q", v, got, want)
		}
	}
}
