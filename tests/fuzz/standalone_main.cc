// Driver for compilers without libFuzzer (g++): replays every file of the
// seed corpus, then runs a bounded number of seeded random mutations of them
// through the same LLVMFuzzerTestOneInput. Not coverage-guided; the clang
// `fuzz` preset builds the real libFuzzer target from the same source.
//
//   packet_fuzz_replay CORPUS_DIR [ITERATIONS] [SEED]   (or stats_json_fuzz_replay)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS] [SEED]\n", argv[0]);
    return 2;
  }
  const long iters = argc > 2 ? std::atol(argv[2]) : 20000;
  std::mt19937_64 rng(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1);
  std::vector<std::vector<uint8_t>> corpus;
  for (const auto& f : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(f.path(), std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "no seed files in %s\n", argv[1]);
    return 2;
  }
  for (const auto& c : corpus) LLVMFuzzerTestOneInput(c.data(), c.size());
  for (long i = 0; i < iters; ++i) {
    std::vector<uint8_t> in = corpus[rng() % corpus.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < edits && !in.empty(); ++k) {
      const size_t at = rng() % in.size();
      switch (rng() % 4) {
        case 0: in[at] = static_cast<uint8_t>(rng()); break;                 // byte
        case 1: in[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;    // bit
        case 2: in.resize(at); break;                                        // truncate
        case 3: in.insert(in.begin() + static_cast<long>(at), static_cast<uint8_t>(rng())); break;
      }
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  std::printf("%s: %zu seeds + %ld mutations, no property violated\n",
              std::filesystem::path(argv[0]).filename().c_str(), corpus.size(), iters);
  return 0;
}
