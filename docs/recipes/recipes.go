// Package recipes holds the committed compression recipes (JSON objects
// of compress flags, the files beside this one), embedded so that the
// binary and the tests read them wherever they run: lightbeam demo
// compresses with lenet-300-100-16k.json, and the CLI's tests apply every one.
package recipes

import "embed"

// FS holds every *.json recipe of this folder by its file name.
//
//go:embed *.json
var FS embed.FS
