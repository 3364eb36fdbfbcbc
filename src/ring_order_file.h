// LTCC_RING_ORDER_FILE: an ltcc-diag verdict as the loss-aware ring order's
// first input (issue 18; collectives/ring_order.h).
//
// LTCC_RING_ORDER=auto measures the links a ring uses and moves the ring off
// a bad one after 8 all-reduces, but only off a link the ring has carried
// data over. A verdict from ltcc-diag names the bad links before the job
// has sent anything: with LTCC_RING_ORDER_FILE set, rank 0 reads the file at
// the communicator's first flat-ring collective, every rank gets the ring
// chosen from it (a broadcast of the order), and the measured choices go on
// from there as before.
//
// Two ltcc-diag outputs are read:
//   - `ltcc-diag --json` (a probe run on the job's hosts, with the job's rank
//     numbering, "ltcc_diag": 1):
//     per link src -> dst its probe loss, retransmitted share and goodput
//     relative to the median link;
//   - `ltcc-diag report --json` (the job's own LTCC_STATS_FILE lines,
//     "ltcc_diag_report": 1): per link from -> to its retransmitted share,
//     for the links the report judged (enough packets; the session with this
//     communicator's rank count, which must be the only one).
// A link's quality is the measure LTCC_RING_ORDER=auto uses, in units of a
// clean link: max(0.1, 1 - 10 x its loss) (half at 5%), times its goodput
// ratio where the probe run measured one. A link the file does not name is
// assumed to be the median one, as an unmeasured link is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ltcc {

// The n x n link quality matrix (row = sender, 0 = not named) of an
// ltcc-diag JSON text. Fails with a sentence saying what in the text is
// wrong (not JSON, another kind of file, another rank count, a link naming
// a rank beyond n).
Status ring_quality_from_diag_json(std::string_view text, uint32_t n,
                                   std::vector<double>* quality);

// The same, read from `path` (at most kMaxRingOrderFileBytes); the sentence
// names the file.
inline constexpr uint64_t kMaxRingOrderFileBytes = uint64_t{256} << 20;
Status ring_quality_from_diag_file(const std::string& path, uint32_t n,
                                   std::vector<double>* quality);

}  // namespace ltcc
