package topology

// Slot returns the hash slot of a key, as Redis Cluster computes it: CRC16
// (XMODEM) of the key mod 16384, or of its hash tag. The hash tag is the part
// between the first '{' and the first '}' after it, if that part is not empty
// ("{user1000}.following" hashes "user1000"; "{}x" and "x{" hash the whole key).
func Slot(key []byte) int {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				break
			}
		}
		break
	}
	return int(crc16(key) & (NumSlots - 1))
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), Redis's
// crc16.c.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^c]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
