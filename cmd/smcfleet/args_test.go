package main

import (
	"reflect"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp(&streams{})
	tests := []struct{ in, want []string }{
		{[]string{"smcfleet", "smc", "config", "get", "-i", "inv.hcl", "smc-01", "--path", "a.b"},
			[]string{"smcfleet", "smc", "config", "get", "-i", "inv.hcl", "--path", "a.b", "smc-01"}},
		{[]string{"smcfleet", "plan", "site.hcl", "-i", "inv.hcl", "--limit", "smc-*", "--json"},
			[]string{"smcfleet", "plan", "-i", "inv.hcl", "--limit", "smc-*", "--json", "site.hcl"}},
		{[]string{"smcfleet", "plan", "--var=a=b", "site.hcl", "--detailed-exitcode"},
			[]string{"smcfleet", "plan", "--var=a=b", "--detailed-exitcode", "site.hcl"}},
		{[]string{"smcfleet", "lab", "fault", "smc-02", "down", "--dir", "lab", "--", "-x"},
			[]string{"smcfleet", "lab", "fault", "--dir", "lab", "smc-02", "down", "--", "-x"}},
		{[]string{"smcfleet", "--help"}, []string{"smcfleet", "--help"}},
	}
	for _, tt := range tests {
		if got := interspersed(app, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("interspersed(%q):\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
