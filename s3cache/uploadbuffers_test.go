package s3cache

import "testing"

// TestBufferCost: what an upload holds in memory per file, by size; no
// file costs more than the whole budget, or its upload would wait for
// room that never comes.
func TestBufferCost(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		want int64
	}{
		{"empty", 0, 4 << 10},
		{"small", 100 << 10, 200 << 10},
		{"just under multipart", multipartThreshold - 1, 2*multipartThreshold - 2},
		{"multipart", multipartThreshold, 2*multipartThreshold + (uploadConcurrency+1)*uploadPartSize},
		{"huge", 50 << 30, 2*multipartThreshold + (uploadConcurrency+1)*uploadPartSize},
	} {
		got := bufferCost(tc.size)
		if got != tc.want {
			t.Errorf("%s: bufferCost(%d) = %d, want %d", tc.name, tc.size, got, tc.want)
		}
		if got > uploadBuffers {
			t.Errorf("%s: bufferCost(%d) = %d, over the budget of %d", tc.name, tc.size, got, uploadBuffers)
		}
	}
}
