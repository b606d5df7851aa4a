/// Nearest-name search as Haskell's `Data.FuzzySet` does it (PostgREST's hints): an exact
/// (case-insensitive) match wins; otherwise candidates sharing a character 3-gram (then 2-gram)
/// of the normalized text are ranked by cosine similarity, the best 50 re-scored by normalized
/// Levenshtein similarity of the lower-cased strings, and the best at or above `minimumScore` wins.
enum FuzzyMatch {
    static let maximumLength = 1_000

    static func best<S: Sequence>(_ value: String, among candidates: S, minimumScore: Double) -> String? where S.Element == String {
        // Hints are a courtesy: no quadratic work on very long inputs.
        guard value.utf8.count <= maximumLength else { return nil }
        let key = value.lowercased()
        let list = candidates.map { (original: $0, lower: $0.lowercased()) }
        if let exact = list.first(where: { $0.lower == key }) { return exact.original }
        let keyCharacters = Array(key)
        for gramSize in [3, 2] {
            let query = gramVector(key, size: gramSize)
            let queryNorm = norm(query)
            var ranked: [(original: String, lower: String, score: Double)] = []
            for candidate in list {
                let vector = gramVector(candidate.lower, size: gramSize)
                var dot = 0
                for (gram, count) in query { dot += count * (vector[gram] ?? 0) }
                guard dot > 0 else { continue }
                ranked.append((candidate.original, candidate.lower, Double(dot) / (queryNorm * norm(vector))))
            }
            let rescored = ranked.sorted { $0.score > $1.score }.prefix(50)
                .map { (original: $0.original, score: levenshteinSimilarity(keyCharacters, Array($0.lower))) }
                .sorted { $0.score > $1.score }
                .filter { $0.score >= minimumScore }
            if let first = rescored.first { return first.original }
        }
        return nil
    }

    /// Lower case; only letters, digits, white space and commas kept.
    static func normalized(_ text: String) -> [Character] {
        Array(text.lowercased().filter { $0.isLetter || $0.isNumber || $0.isWhitespace || $0 == "," })
    }

    /// Counts of the `size`-grams of `-normalized-`.
    static func gramVector(_ text: String, size: Int) -> [String: Int] {
        let padded: [Character] = ["-"] + normalized(text) + ["-"]
        var counts: [String: Int] = [:]
        guard padded.count >= size else { return counts }
        for start in 0...(padded.count - size) {
            counts[String(padded[start..<(start + size)]), default: 0] += 1
        }
        return counts
    }

    static func norm(_ vector: [String: Int]) -> Double {
        Double(vector.values.reduce(0) { $0 + $1 * $1 }).squareRoot()
    }

    /// 1 - distance / length of the longer string (text-metrics' `levenshteinNorm`).
    static func levenshteinSimilarity(_ a: [Character], _ b: [Character]) -> Double {
        let longest = max(a.count, b.count)
        guard longest > 0 else { return 1 }
        return 1 - Double(levenshtein(a, b)) / Double(longest)
    }

    static func levenshtein(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
