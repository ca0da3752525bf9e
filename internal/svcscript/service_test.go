package svcscript

import "testing"

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"TestX":                "TestX",
		"TestX/sub_case#01":    "TestX_sub_case_01",
		"TestY/a*b?[c]":        "TestY_a_b__c_",
		"TestZ/1.5-e_x":        "TestZ_1.5-e_x",
		"TestÜ/space here ok?": "Test__space_here_ok_",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}
