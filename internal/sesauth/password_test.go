package sesauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// referencePassword is AWS's published algorithm written out step by step,
// independently of SMTPPassword, as the reference of the tests.
func referencePassword(secret, region string) string {
	h := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	kDate := h([]byte("AWS4"+secret), "11111111")
	kRegion := h(kDate, region)
	kService := h(kRegion, "ses")
	kTerminal := h(kService, "aws4_request")
	signature := h(kTerminal, "SendRawEmail")
	return base64.StdEncoding.EncodeToString(append([]byte{0x04}, signature...))
}

func TestSESPasswordReference(t *testing.T) {
	secrets := []string{
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
		"0123456789abcdefghijABCDEFGHIJ+/01234567",
		"x",
	}
	for _, region := range Regions {
		for _, secret := range secrets {
			got, err := SMTPPassword(secret, region)
			if err != nil {
				t.Fatalf("SMTPPassword(%q, %q): %v", secret, region, err)
			}
			if want := referencePassword(secret, region); got != want {
				t.Errorf("SMTPPassword(%q, %q): got %s, want %s", secret, region, got, want)
			}
			raw, err := base64.StdEncoding.DecodeString(got)
			if err != nil || len(raw) != 33 || raw[0] != 0x04 {
				t.Errorf("SMTPPassword(%q, %q) = %s: want base64 of 0x04 and 32 bytes", secret, region, got)
			}
		}
	}
	// The password depends on the region.
	a, _ := SMTPPassword(secrets[0], "us-east-1")
	b, _ := SMTPPassword(secrets[0], "eu-west-1")
	if a == b {
		t.Errorf("us-east-1 and eu-west-1 give the same password %s", a)
	}
}

// TestSESPasswordPublished checks the value published in the AWS SDK for
// PHP's tests (tests/Ses/SesClientTest.php, testCanGenerateSmtpPasswordV4-
// FromCredentials), computed there from AWS's sample code for the sample
// secret key of the AWS documentation.
func TestSESPasswordPublished(t *testing.T) {
	got, err := SMTPPassword("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-2")
	if err != nil {
		t.Fatal(err)
	}
	if want := "BMPPgbAHoFVbze1Ud0oA5uNdXRwUXUZ+qOwphGJbl/cS"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestSESPasswordRegions(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for _, r := range []string{"US-EAST-2", " us-east-2 ", "Us-East-2"} {
		got, err := SMTPPassword(secret, r)
		if err != nil || got != referencePassword(secret, "us-east-2") {
			t.Errorf("SMTPPassword(%q): got %s, %v; want the us-east-2 password", r, got, err)
		}
	}
	for _, r := range []string{"", "us-east", "useast1", "us-east-1a", "email-smtp.us-east-1.amazonaws.com",
		"us east 1", "us-east-12", "1-east-1", "usa-east-1", "us-east-1; rm -rf /"} {
		if _, err := SMTPPassword(secret, r); err == nil {
			t.Errorf("SMTPPassword(%q): no error", r)
		}
	}
	if _, err := SMTPPassword(secret, "xx-future-9"); err != nil {
		t.Errorf("a well-formed region not in the list: %v", err)
	}
	if KnownRegion("xx-future-9") || !KnownRegion("eu-west-1") || !KnownRegion("us-gov-west-1") {
		t.Error("KnownRegion is wrong")
	}
	for _, r := range Regions {
		if n, err := NormalizeRegion(r); err != nil || n != r {
			t.Errorf("NormalizeRegion(%q): got %q, %v", r, n, err)
		}
	}
}

func TestSESPasswordBadSecret(t *testing.T) {
	for _, secret := range []string{"", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "with space", "tab\there"} {
		_, err := SMTPPassword(secret, "us-east-1")
		if err == nil {
			t.Errorf("SMTPPassword(%q): no error", secret)
			continue
		}
		if secret != "" && strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q shows the secret", err)
		}
	}
}
