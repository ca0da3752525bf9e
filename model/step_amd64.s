#include "textflag.h"

// func nesterovAVX(p, grad, m *float32, n int, pre float32, scale, l2, lr, mu float64)
//
// Four parameters a pass, in float64, with exactly the operations (and so
// the rounding) of update.run's Nesterov loop without L1:
//
//	g' = scale·float64(g·pre) + l2·w;  b = mu·m + g';  m = float32(b)
//	w = float32(w − lr·(g' + mu·b))
//
// n must be a multiple of 4.
TEXT ·nesterovAVX(SB), NOSPLIT, $0-72
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS pre+32(FP), X9
	VBROADCASTSD scale+40(FP), Y10
	VBROADCASTSD l2+48(FP), Y11
	VBROADCASTSD lr+56(FP), Y12
	VBROADCASTSD mu+64(FP), Y13
	XORQ AX, AX

loop:
	CMPQ AX, CX
	JGE  done
	VMOVUPS   (SI)(AX*4), X0
	VMULPS    X9, X0, X0        // g·pre, float32
	VCVTPS2PD X0, Y0
	VMULPD    Y10, Y0, Y0       // scale·x
	VMOVUPS   (DI)(AX*4), X1
	VCVTPS2PD X1, Y1            // w
	VMULPD    Y11, Y1, Y2       // l2·w
	VADDPD    Y2, Y0, Y0        // g'
	VMOVUPS   (DX)(AX*4), X3
	VCVTPS2PD X3, Y3
	VMULPD    Y13, Y3, Y3       // mu·m
	VADDPD    Y0, Y3, Y3        // b
	VCVTPD2PSY Y3, X4
	VMOVUPS   X4, (DX)(AX*4)
	VMULPD    Y13, Y3, Y5       // mu·b
	VADDPD    Y5, Y0, Y5        // g' + mu·b
	VMULPD    Y12, Y5, Y5       // lr·(...)
	VSUBPD    Y5, Y1, Y1        // w − lr·(...)
	VCVTPD2PSY Y1, X1
	VMOVUPS   X1, (DI)(AX*4)
	ADDQ $4, AX
	JMP  loop

done:
	VZEROUPPER
	RET
