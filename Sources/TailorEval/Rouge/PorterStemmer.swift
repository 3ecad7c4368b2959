/// The Porter stemmer as NLTK's `PorterStemmer()` runs it (mode NLTK_EXTENSIONS), which is what
/// `rouge_score` uses with `use_stemmer=True`. Written from the algorithm's rules; quirks of
/// NLTK's version are kept on purpose (two definitions of a consonant "y", the irregular forms,
/// the extra step-1 and step-2 rules), because the point is identical ROUGE scores.
enum PorterStemmer {
    private static let irregular: [String: String] = [
        "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
        "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing", "cannings": "canning",
        "canning": "canning", "howe": "howe", "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
    ]

    /// The stem of a lowercase ASCII word.
    static func stem(_ word: String) -> String {
        if let s = irregular[word] { return s }
        guard word.utf8.count > 2 else { return word }
        var w = Array(word.utf8)
        w = step1a(w); w = step1b(w); w = step1c(w); w = step2(w); w = step3(w); w = step4(w); w = step5a(w);
        w = step5b(w)
        return String(decoding: w, as: UTF8.self)
    }

    private typealias Word = [UInt8]
    private static func isVowel(_ c: UInt8) -> Bool { c == 0x61 || c == 0x65 || c == 0x69 || c == 0x6F || c == 0x75 }
    private static let y: UInt8 = 0x79

    /// NLTK's `_is_consonant`: a run of y's ending at i alternates its answer.
    private static func isConsonant(_ w: Word, _ i: Int) -> Bool {
        if isVowel(w[i]) { return false }
        guard w[i] == y else { return true }
        var i = i, negate = false
        while i > 0 && w[i] == y {
            negate.toggle()
            i -= 1
        }
        return (!isVowel(w[i])) != negate
    }

    /// NLTK's `_consonant_flags` (used by the measure and the vowel test): y is a consonant at the
    /// start or after a vowel.
    private static func consonantFlags(_ w: Word) -> [Bool] {
        var flags: [Bool] = []
        flags.reserveCapacity(w.count)
        for (i, c) in w.enumerated() {
            if isVowel(c) {
                flags.append(false)
            } else if c == y {
                flags.append(i == 0 ? true : !flags[i - 1])
            } else {
                flags.append(true)
            }
        }
        return flags
    }

    /// m in [C](VC)^m[V]: the number of vowel→consonant transitions.
    private static func measure(_ w: Word) -> Int {
        let f = consonantFlags(w)
        var m = 0
        if f.count >= 2 { for i in 1..<f.count where !f[i - 1] && f[i] { m += 1 } }
        return m
    }

    private static func containsVowel(_ w: Word) -> Bool { consonantFlags(w).contains(false) }

    private static func endsDoubleConsonant(_ w: Word) -> Bool {
        w.count >= 2 && w[w.count - 1] == w[w.count - 2] && isConsonant(w, w.count - 1)
    }

    private static func endsCVC(_ w: Word) -> Bool {
        let n = w.count
        if n >= 3 && isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1)
            && w[n - 1] != 0x77 && w[n - 1] != 0x78 && w[n - 1] != y
        {
            return true
        }
        return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
    }

    private static func ends(_ w: Word, _ s: String) -> Bool {
        let s = Array(s.utf8)
        return w.count >= s.count && Array(w[(w.count - s.count)...]) == s
    }

    private static func drop(_ w: Word, _ n: Int) -> Word { Array(w[..<(w.count - n)]) }

    /// A rule: suffix → replacement when `condition` holds for the stem; "*d" is a double consonant.
    private struct Rule {
        var suffix: String
        var replacement: String
        var condition: ((Word) -> Bool)?
    }

    /// The first rule whose suffix matches decides: replaced if its condition holds, else the word stays.
    private static func apply(_ w: Word, _ rules: [Rule]) -> Word {
        for r in rules {
            if r.suffix == "*d" && endsDoubleConsonant(w) {
                let stem = drop(w, 2)
                return (r.condition?(stem) ?? true) ? stem + Array(r.replacement.utf8) : w
            }
            if r.suffix != "*d" && ends(w, r.suffix) {
                let stem = drop(w, r.suffix.utf8.count)
                return (r.condition?(stem) ?? true) ? stem + Array(r.replacement.utf8) : w
            }
        }
        return w
    }

    private static func positive(_ w: Word) -> Bool { measure(w) > 0 }

    private static func step1a(_ w: Word) -> Word {
        if ends(w, "ies") && w.count == 4 { return drop(w, 3) + Array("ie".utf8) }
        return apply(
            w,
            [
                Rule(suffix: "sses", replacement: "ss"), Rule(suffix: "ies", replacement: "i"),
                Rule(suffix: "ss", replacement: "ss"), Rule(suffix: "s", replacement: ""),
            ])
    }

    private static func step1b(_ w: Word) -> Word {
        if ends(w, "ied") { return drop(w, 3) + Array((w.count == 4 ? "ie" : "i").utf8) }
        if ends(w, "eed") {
            let stem = drop(w, 3)
            return measure(stem) > 0 ? stem + Array("ee".utf8) : w
        }
        var intermediate: Word?
        for s in ["ed", "ing"] where ends(w, s) {
            let stem = drop(w, s.utf8.count)
            if containsVowel(stem) { intermediate = stem; break }
        }
        guard let stem = intermediate else { return w }
        let last = stem.last.map { String(UnicodeScalar($0)) } ?? ""
        return apply(
            stem,
            [
                Rule(suffix: "at", replacement: "ate"), Rule(suffix: "bl", replacement: "ble"),
                Rule(suffix: "iz", replacement: "ize"),
                Rule(suffix: "*d", replacement: last, condition: { _ in !["l", "s", "z"].contains(last) }),
                Rule(suffix: "", replacement: "e", condition: { measure($0) == 1 && endsCVC($0) }),
            ])
    }

    private static func step1c(_ w: Word) -> Word {
        apply(w, [Rule(suffix: "y", replacement: "i", condition: { $0.count > 1 && isConsonant($0, $0.count - 1) })])
    }

    private static func step2(_ w: Word) -> Word {
        if ends(w, "alli") && positive(drop(w, 4)) { return step2(drop(w, 4) + Array("al".utf8)) }
        let pairs: [(String, String)] = [
            ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
            ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
            ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"),
            ("aliti", "al"),
            ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
        ]
        var rules = pairs.map { Rule(suffix: $0.0, replacement: $0.1, condition: positive) }
        rules.append(Rule(suffix: "logi", replacement: "log", condition: { _ in positive(drop(w, 3)) }))
        return apply(w, rules)
    }

    private static func step3(_ w: Word) -> Word {
        apply(
            w,
            [
                ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""),
                ("ness", ""),
            ]
            .map { Rule(suffix: $0.0, replacement: $0.1, condition: positive) })
    }

    private static func step4(_ w: Word) -> Word {
        let gt1: (Word) -> Bool = { measure($0) > 1 }
        var rules = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent"].map {
            Rule(suffix: $0, replacement: "", condition: gt1)
        }
        rules.append(
            Rule(suffix: "ion", replacement: "", condition: { measure($0) > 1 && ($0.last == 0x73 || $0.last == 0x74) })
        )
        rules += ["ou", "ism", "ate", "iti", "ous", "ive", "ize"].map {
            Rule(suffix: $0, replacement: "", condition: gt1)
        }
        return apply(w, rules)
    }

    private static func step5a(_ w: Word) -> Word {
        guard ends(w, "e") else { return w }
        let stem = drop(w, 1), m = measure(stem)
        if m > 1 || (m == 1 && !endsCVC(stem)) { return stem }
        return w
    }

    private static func step5b(_ w: Word) -> Word {
        apply(w, [Rule(suffix: "ll", replacement: "l", condition: { _ in measure(drop(w, 1)) > 1 })])
    }
}
