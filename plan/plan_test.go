package plan

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	p := &Plan{Version: Version, Workspace: "demo", Endpoints: []Endpoint{{Name: "http", TargetPort: 8080}},
		PostStart: []Step{{Commands: []Command{{ID: "run", CommandLine: "echo $HOME"}}}}}
	s, err := p.Encode()
	require.NoError(t, err)
	assert.Equal(t, `{"version":1,"workspace":"demo","postStart":[{"commands":[{"id":"run","commandLine":"echo $HOME"}]}],"endpoints":[{"name":"http","component":"","targetPort":8080}]}`, s)
	got, err := Decode(s)
	require.NoError(t, err)
	assert.Equal(t, p, got)
	e, ok := got.EndpointByPort(8080)
	assert.True(t, ok)
	assert.Equal(t, "http", e.Name)
}

func TestDecodeRejectsNewerVersion(t *testing.T) {
	_, err := Decode(`{"version":99}`)
	assert.ErrorContains(t, err, "version 99 is not supported")
	_, err = Decode(`not json`)
	assert.ErrorContains(t, err, "decode workspace plan")
}

func TestJSONIsEncode(t *testing.T) {
	p := &Plan{Version: Version, Workspace: "demo", PostStart: []Step{{Commands: []Command{{ID: "a", CommandLine: "echo <&>"}}}}}
	enc, err := p.Encode()
	if err != nil || p.JSON() != enc {
		t.Errorf("JSON() = %q, Encode() = %q, %v", p.JSON(), enc, err)
	}
}
