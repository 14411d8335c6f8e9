package main

import (
	"strings"
	"testing"
	"time"
)

func TestCronFor(t *testing.T) {
	// seed: minute 17, hour 3 (3*60+17 = 197), weekday 0 (Sun).
	const seed = 197
	for _, c := range []struct {
		every    time.Duration
		expr     string
		calendar string
		exact    bool
	}{
		{24 * time.Hour, "17 3 * * *", "*-*-* 03:17:00", true},
		{time.Hour, "17 * * * *", "*-*-* *:17:00", true},
		{6 * time.Hour, "17 3-23/6 * * *", "*-*-* 03/6:17:00", true},
		{15 * time.Minute, "2-59/15 * * * *", "*-*-* *:02/15:00", true},
		{time.Minute, "* * * * *", "*-*-* *:*:00", true},
		{7 * 24 * time.Hour, "17 3 * * 0", "Sun *-*-* 03:17:00", true},
		{5 * time.Hour, "17 3-23/6 * * *", "*-*-* 03/6:17:00", false},
		{90 * time.Minute, "17 1-23/2 * * *", "*-*-* 01/2:17:00", false}, // 2h is closer than 1h
		{30 * 24 * time.Hour, "17 3 * * 0", "Sun *-*-* 03:17:00", false},
	} {
		got := cronFor(c.every, seed)
		if got.expr != c.expr || got.calendar != c.calendar || got.exact != c.exact {
			t.Errorf("%v: got %q %q exact=%v, want %q %q exact=%v", c.every, got.expr, got.calendar, got.exact, c.expr, c.calendar, c.exact)
		}
	}
	// Different inventories land on different times.
	if cronFor(24*time.Hour, 1).expr == cronFor(24*time.Hour, 2).expr {
		t.Error("the seed does not spread the time")
	}
}

func TestSystemdSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30m", 90 * time.Minute: "1h30m", 24 * time.Hour: "24h", 45 * time.Second: "45s", 0: "0",
	} {
		if got := systemdSpan(d); got != want {
			t.Errorf("%v: got %s, want %s", d, got, want)
		}
	}
}

func TestQuoting(t *testing.T) {
	if got := systemdQuote("/a b/100%$x"); got != `"/a b/100%%$$x"` {
		t.Errorf("systemdQuote: %s", got)
	}
	if got := systemdQuote("/plain/path"); got != "/plain/path" {
		t.Errorf("systemdQuote: %s", got)
	}
	sc := &schedule{envFile: "/e", argv: []string{"/bin/smcfleet", "apply", "/a b/50%.hcl"}, cron: cronSchedule{expr: "1 2 * * *"}}
	line := sc.crontabLine()
	if !strings.HasSuffix(line, `exec /bin/smcfleet apply '/a b/50\%.hcl'`) {
		t.Errorf("crontab line: %s", line)
	}
}
