package web

import (
	"reflect"
	"testing"
)

func TestHighlight(t *testing.T) {
	got := highlight("Bootstrap: docker\nFrom: debian:12\n# a comment\n\n%post\n    echo a: b\n%labels\n    x y\n")
	want := []defLine{
		{"d-header", "Bootstrap: docker"}, {"d-header", "From: debian:12"}, {"d-comment", "# a comment"}, {"", ""},
		{"d-section", "%post"}, {"", "    echo a: b"}, {"d-section", "%labels"}, {"", "    x y"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("highlight:\n got %q\nwant %q", got, want)
	}
}
