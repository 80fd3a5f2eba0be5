// Package deploy holds no code: it is the home of the deployment artefacts
// (docker/, helm/, systemd/, grafana/, prometheus/) and of the tests that
// check them against the syncgate binary built from this tree.
package deploy
