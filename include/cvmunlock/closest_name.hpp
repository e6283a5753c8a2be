// "Did you mean ...?": the candidate nearest to a mistyped word.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cvmunlock {

// The candidate closest to `word` by edit distance, when it is close enough to
// be what was meant (at most max(2, |word|/3) edits, or `word` is a prefix of
// it of 3 characters or more); else "".
std::string closest_name(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace cvmunlock
