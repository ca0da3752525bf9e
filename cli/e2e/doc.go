// Package e2e holds the tests that run the lightbeam binary as a user or a
// scheduler does (built once by cli/clitest): killed at random moments
// (TestKilled), two runs on one --out (TestConcurrentOut, TestStaleLock),
// a full disk (TestFullDisk), gs:// with credentials that must not leak
// (TestGCSNoSecretsInOutput), and a cluster-shaped run across network and
// mount namespaces (TestClusterShaped, scripts/cluster.sh). They find the
// module's scripts from their package directory, wherever the module is
// cloned.
package e2e
