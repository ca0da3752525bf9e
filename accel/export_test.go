package accel

// FindBLAS returns the CBLAS library the blas backend loads: the path in
// $LIGHTBEAM_BLAS_LIB if set, else the first of BLIS and OpenBLAS that
// dlopen finds. The error names every library it looked for.
func FindBLAS() (string, error) {
	_, path, err := dlopenBLAS()
	return path, err
}

// BLASCandidates are the libraries the blas backend tries, in order.
var BLASCandidates = blasCandidates
