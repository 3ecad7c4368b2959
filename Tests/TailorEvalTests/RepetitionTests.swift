import TailorEval
import XCTest

final class RepetitionTests: XCTestCase {
    func testTheLoopsSmallModelsFallIntoAreFound() {
        // Subjects the demo and the peps-dev evaluation printed.
        XCTAssertEqual(
            Repetition.loopingWord(in: "A single-line command: a single-line command that is a single-line command"),
            "single")
        XCTAssertEqual(Repetition.loopingWord(in: "PEP 698: PEP 698 - PEP 699: PEP 700: PEP 701"), "pep")
        XCTAssertEqual(Repetition.loopingWord(in: "Fix fix FIX the parser"), "fix")
    }

    func testRealSubjectsAndShortWordsDoNotCount() {
        XCTAssertNil(Repetition.loopingWord(in: "PEP 814: Add frozendict built-in type (#4699)"))
        // A word twice is a subject that names two things, not a loop.
        XCTAssertNil(Repetition.loopingWord(in: "PEP 8: move PEP 9 to the new layout"))
        // Words under three characters ("a", "is", "to") repeat in plain English.
        XCTAssertNil(Repetition.loopingWord(in: "a is a is a is to to to"))
        XCTAssertFalse(Repetition.loops(""))
        XCTAssertTrue(Repetition.loops("the the the"))
    }

    func testTheMostFrequentWordIsNamedThenTheFirst() {
        XCTAssertEqual(Repetition.loopingWord(in: "one two two two one one one"), "one")
        XCTAssertEqual(Repetition.loopingWord(in: "two one two one two one"), "two")
    }
}
