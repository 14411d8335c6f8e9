package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

func TestFriendlyName(t *testing.T) {
	long := strings.Repeat("Very Long Certificate Authority Name ", 4)
	tests := []struct {
		subj   pkix.Name
		serial int64
		want   string
	}{
		{pkix.Name{CommonName: "Amazon Root CA 1", Organization: []string{"Amazon"}}, 1, "AmazonRootCA1"},
		{pkix.Name{CommonName: "Starfield Services Root Certificate Authority - G2"}, 1, "StarfieldServicesRootCertificateAuthority-G2"},
		{pkix.Name{CommonName: testHost}, 1, testHost},
		{pkix.Name{CommonName: "Certum Główny CA"}, 1, "CertumGlownyCA"},
		{pkix.Name{CommonName: "Société Générale Root"}, 1, "SocieteGeneraleRoot"},
		{pkix.Name{CommonName: "Straße Æon Ørsted Łódź"}, 1, "StrasseAEonOrstedLodz"},
		{pkix.Name{CommonName: "ＦｕｌｌＷｉｄｔｈ\u00a0CA"}, 1, "FullWidthCA"},
		{pkix.Name{CommonName: "*.example.com"}, 1, "wildcard.example.com"},
		{pkix.Name{CommonName: "--Weird//Name (test) & co.__"}, 1, "Weird-Name-test-co"},
		{pkix.Name{CommonName: "Ünïcödé\tTab"}, 1, "UnicodeTab"},
		{pkix.Name{Organization: []string{"Starfield Technologies, Inc."}, OrganizationalUnit: []string{"Class 2"}}, 1, "StarfieldTechnologies-Inc"},
		{pkix.Name{OrganizationalUnit: []string{"Starfield Class 2 Certification Authority"}}, 1, "StarfieldClass2CertificationAuthority"},
		{pkix.Name{Country: []string{"US"}}, 0x1A2B, "serial-1A2B"},
		// A CN with nothing foldable to ASCII falls through to O.
		{pkix.Name{CommonName: "日本認証局", Organization: []string{"Nihon Ninsho"}}, 1, "NihonNinsho"},
		{pkix.Name{CommonName: "日本認証局"}, 0xBEEF, "serial-BEEF"},
		{pkix.Name{CommonName: long}, 1, strings.ReplaceAll(long, " ", "")[:64]},
	}
	for _, tt := range tests {
		c := selfSignedCA(t, tt.subj, tt.serial)
		got := FriendlyName(c)
		if got != tt.want || !NamePattern.MatchString(got) || len(got) > MaxNameLen {
			t.Errorf("FriendlyName(%q, serial %X): got %q, want %q", tt.subj.String(), tt.serial, got, tt.want)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"---...___", ""},
		{"a..b", "a..b"},
		{"a--b", "a-b"},
		{"a/\\|b", "a-b"},
		{".hidden", "hidden"},
		{"-rf", "rf"},
		{"*", ""},
		{"*.", "wildcard"},
		{"ẞÞħ", "SSTHh"},
	} {
		if got := sanitizeName(tt.in); got != tt.want {
			t.Errorf("sanitizeName(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Duplicate names: every certificate in the clash gets "-" + 8 hex digits of
// its fingerprint, whatever the input order; the others keep their name.
func TestNamesDuplicates(t *testing.T) {
	a := selfSignedCA(t, pkix.Name{CommonName: "Dup CA"}, 1)
	b := selfSignedCA(t, pkix.Name{CommonName: "Dup CA"}, 2)
	c := selfSignedCA(t, pkix.Name{CommonName: "DUP  ca"}, 3) // clashes case-insensitively
	d := selfSignedCA(t, pkix.Name{CommonName: "Other CA"}, 4)
	want := map[string]string{
		Fingerprint(a): "DupCA-" + Fingerprint(a)[:8],
		Fingerprint(b): "DupCA-" + Fingerprint(b)[:8],
		Fingerprint(c): "DUPca-" + Fingerprint(c)[:8],
		Fingerprint(d): "OtherCA",
	}
	permutations([]*x509.Certificate{a, b, c, d}, func(in []*x509.Certificate) {
		ch := Order(in, "")
		seen := map[string]bool{}
		for _, cc := range ch.Certs {
			if cc.Name != want[cc.SHA256] {
				t.Fatalf("input %v: %s got %q, want %q", cns(in), cc.Subject, cc.Name, want[cc.SHA256])
			}
			if !NamePattern.MatchString(cc.Name) || seen[strings.ToLower(cc.Name)] {
				t.Fatalf("input %v: name %q invalid or repeated", cns(in), cc.Name)
			}
			seen[strings.ToLower(cc.Name)] = true
		}
	})
}

// A clash between long names keeps the total within MaxNameLen.
func TestNamesLongClash(t *testing.T) {
	cn := strings.Repeat("X", 80)
	a := selfSignedCA(t, pkix.Name{CommonName: cn}, 1)
	b := selfSignedCA(t, pkix.Name{CommonName: cn}, 2)
	ch := Order([]*x509.Certificate{a, b}, "")
	for _, cc := range ch.Certs {
		want := strings.Repeat("X", 55) + "-" + cc.SHA256[:8]
		if cc.Name != want {
			t.Errorf("got %q (%d), want %q", cc.Name, len(cc.Name), want)
		}
	}
}

// Names must never depend on anything but the set: a suffixed name that
// meets another certificate's plain name is lengthened, not left equal.
func TestAssignNamesSecondRound(t *testing.T) {
	cs := []Cert{
		{Cert: selfSignedCA(t, pkix.Name{CommonName: "A"}, 1), SHA256: "aaaaaaaa11111111" + strings.Repeat("0", 48)},
		{Cert: selfSignedCA(t, pkix.Name{CommonName: "A"}, 2), SHA256: "bbbbbbbb22222222" + strings.Repeat("0", 48)},
		{Cert: selfSignedCA(t, pkix.Name{CommonName: "A-aaaaaaaa"}, 3), SHA256: "cccccccc33333333" + strings.Repeat("0", 48)},
	}
	assignNames(cs)
	got := []string{cs[0].Name, cs[1].Name, cs[2].Name}
	want := []string{"A-aaaaaaaa11111111", "A-bbbbbbbb", "A-aaaaaaaa-cccccccc33333333"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cert %d: got %q, want %q (all: %q)", i, got[i], want[i], got)
		}
	}
}
