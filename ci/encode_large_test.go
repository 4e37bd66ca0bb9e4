package ci

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestEncodeLargeJobSameBytes: a job whose variables are encoded in chunks
// (encodeLargeJob) gives the bytes one encoder gives, for every kind of
// value: literal and expandable, quoted, multi-line, empty, a job name that
// needs quoting, and chunk sizes that do and do not divide the count.
func TestEncodeLargeJobSameBytes(t *testing.T) {
	values := []string{"v", "", "a: b", "'q'", "$HOME", "line1\nline2\n", "  lead", "#x", "true", "12", "ü", "- x"}
	var vars Variables
	for i := range 1000 {
		vars.Set(Variable{Name: fmt.Sprintf("V_%d", i), Value: values[i%len(values)], Literal: i%3 != 0})
	}
	p := &Pipeline{Source: "devfile.yaml", Stages: []string{"workspace"}, Jobs: []Job{
		{Name: "small", Stage: "workspace", Variables: vars[:3], Script: []string{"true"}},
		{
			Name: "ws: workspace", Stage: "workspace", Image: &Image{Name: "alpine:3", Entrypoint: []string{""}},
			Services:  []Service{{Name: "redis:7", Alias: "redis", Variables: vars[:5]}},
			Tags:      []string{"docker"},
			Variables: vars, Script: []string{"echo variables: x", "ws_encode_variables_go_here: \"\""},
			AfterScript: []string{"true"},
		},
	}}
	saved := varChunk
	t.Cleanup(func() { varChunk = saved })
	varChunk = len(vars) + 1
	want, err := Encode(p)
	require.NoError(t, err)
	require.Equal(t, 3+1000, strings.Count(string(want), "\n    V_"), "the reference has every job variable at the job's indent")
	for _, chunk := range []int{1, 7, 100, 500, 999} {
		varChunk = chunk
		got, err := Encode(p)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "chunk size %d", chunk)
	}
}

// TestPlainSafeAgreesWithYAML: every string plainSafe accepts is one yaml.v3
// writes unchanged and unquoted as a key and as a value, so
// writePlainVariable's bytes are yaml.v3's. Strings are drawn from an
// alphabet of the characters that matter to YAML, plus the words it reads
// as booleans, nulls and numbers.
func TestPlainSafeAgreesWithYAML(t *testing.T) {
	words := []string{"y", "Y", "yes", "No", "ON", "off", "true", "False", "null", "NULL", "~", "inf", ".inf", "nan", ".NaN",
		"0x1f", "1e3", "12", "_1", "a.b", "/usr/bin", "a-b", "a:b", "a b", "a#b", "<<", "=", "x1", "_", "/", "a/", "é"}
	// Half the strings from characters plainSafe may accept (and the
	// letters of YAML's words), half from every character that matters.
	near := "aZ_/09.-yYeEsSnNoOfFlLtTrRuU"
	alphabet := near + ":#' \"!&*?|>%@`,[]{}~=<+\\\t\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		from := alphabet
		if i%2 == 0 {
			from = near
		}
		b := make([]byte, 1+rng.IntN(6))
		for i := range b {
			b[i] = from[rng.IntN(len(from))]
		}
		words = append(words, string(b))
	}
	accepted := 0
	for _, w := range words {
		if !plainSafe(w) {
			continue
		}
		accepted++
		out, err := yaml.Marshal(map[string]string{w: w})
		require.NoError(t, err)
		require.Equal(t, w+": "+w+"\n", string(out), "plainSafe(%q) but yaml.v3 writes it otherwise", w)
	}
	require.Greater(t, accepted, 1000, "the test exercises the fast path")
}
