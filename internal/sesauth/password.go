// Package sesauth is the Amazon SES SMTP side of smcfleet: it derives the
// SES SMTP password from an IAM secret access key, and checks SMTP settings
// end to end by sending a real message through an SES SMTP endpoint over a
// connection the caller dials (from the controller, or through a Manager's
// SSH connection), classifying a failure the way the procedure's
// troubleshooting table does.
package sesauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The fixed inputs of AWS's documented derivation ("Obtaining Amazon SES
// SMTP credentials", the Python script there): a SigV4 signing key for a
// made-up date, signed over "SendRawEmail", prefixed with version 4.
const (
	sigDate     = "11111111"
	sigService  = "ses"
	sigTerminal = "aws4_request"
	sigMessage  = "SendRawEmail"
	sigVersion  = 0x04
)

// Regions are the regions known to have an SES SMTP endpoint
// (email-smtp.<region>.amazonaws.com), from the AWS General Reference and
// the SES developer guide's script. AWS adds regions; a well-formed region
// missing here still works with SMTPPassword, and KnownRegion lets a caller
// warn about it.
var Regions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1",
	"ap-south-1", "ap-south-2",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ca-central-1",
	"eu-central-1", "eu-north-1", "eu-south-1",
	"eu-west-1", "eu-west-2", "eu-west-3",
	"il-central-1", "me-south-1",
	"sa-east-1",
	"us-gov-east-1", "us-gov-west-1",
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)

// NormalizeRegion lower-cases region and checks its shape (us-east-1,
// us-gov-west-1). It does not check that SES serves the region.
func NormalizeRegion(region string) (string, error) {
	r := strings.ToLower(strings.TrimSpace(region))
	if r == "" {
		return "", errors.New("no region given (e.g. us-east-1)")
	}
	if !regionRE.MatchString(r) {
		return "", fmt.Errorf("%q is not an AWS region name (e.g. us-east-1, eu-west-2, us-gov-west-1)", region)
	}
	return r, nil
}

// KnownRegion reports whether region (normalised) is in Regions.
func KnownRegion(region string) bool {
	return slices.Contains(Regions, strings.ToLower(region))
}

// Endpoint is the SES SMTP host name of a region.
func Endpoint(region string) string {
	return "email-smtp." + strings.ToLower(region) + ".amazonaws.com"
}

// SMTPPassword derives the SES SMTP password that goes with an IAM secret
// access key in a region. The SMTP user name is the key's access key id.
// Passwords are per region: one derived for another region is refused by
// SES with "535 Authentication Credentials Invalid".
func SMTPPassword(secretAccessKey, region string) (string, error) {
	r, err := NormalizeRegion(region)
	if err != nil {
		return "", err
	}
	if secretAccessKey == "" {
		return "", errors.New("empty secret access key")
	}
	// Never echo the key in an error: say what is wrong, not what it is.
	if strings.ContainsFunc(secretAccessKey, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return "", errors.New("the secret access key contains spaces or control characters (a copy-paste error?)")
	}
	key := sign([]byte("AWS4"+secretAccessKey), sigDate)
	for _, part := range []string{r, sigService, sigTerminal, sigMessage} {
		key = sign(key, part)
	}
	return base64.StdEncoding.EncodeToString(append([]byte{sigVersion}, key...)), nil
}

func sign(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
