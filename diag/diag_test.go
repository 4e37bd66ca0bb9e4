package diag

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSortedDeduplicatesAndOrders(t *testing.T) {
	l := List{
		{Severity: Warning, Pos: Pos{File: "b.yaml", Line: 1, Col: 1}, Summary: "w"},
		{Severity: Error, Pos: Pos{File: "a.yaml", Line: 9, Col: 3}, Summary: "late"},
		{Severity: Error, Pos: Pos{File: "a.yaml", Line: 2, Col: 5}, Summary: "early", Hint: "fix it"},
		{Severity: Error, Pos: Pos{File: "a.yaml", Line: 9, Col: 3}, Summary: "late"},
	}
	var buf bytes.Buffer
	assert.NoError(t, l.WriteText(&buf))
	assert.Equal(t, "a.yaml:2:5: error: early\n\thint: fix it\na.yaml:9:3: error: late\nb.yaml:1:1: warning: w\n", buf.String())
	e, w := l.Count()
	assert.Equal(t, 3, e)
	assert.Equal(t, 1, w)
	assert.True(t, l.HasErrors())
	assert.False(t, List{{Severity: Warning}}.HasErrors())
}

func TestWriteJSONEmptyIsArray(t *testing.T) {
	var buf bytes.Buffer
	assert.NoError(t, List(nil).WriteJSON(&buf))
	assert.Equal(t, "[]\n", buf.String())
}
