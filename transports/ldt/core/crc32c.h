// CRC32C (Castagnoli), hardware-accelerated with SSE4.2 where the CPU has it
// (chosen once at start-up), table-driven otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ltcc {

uint32_t crc32c(uint32_t crc, const void* data, size_t len);
inline uint32_t crc32c(const void* data, size_t len) { return crc32c(0, data, len); }
bool crc32c_is_hardware();

}  // namespace ltcc
