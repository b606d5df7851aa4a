import Testing
@testable import GatewayCore

@Suite struct FuzzyMatchTests {
    // The doctests of PostgREST's `noRpcHint`.
    let procs = ["test", "another"]

    @Test func procedureNames() {
        #expect(FuzzyMatch.best("testt", among: procs, minimumScore: 0.75) == "test")
        #expect(FuzzyMatch.best("noclosealternative", among: procs, minimumScore: 0.75) == nil)
        #expect(FuzzyMatch.best("sayhell", among: ["sayhello", "add_them"], minimumScore: 0.75) == "sayhello")
        #expect(FuzzyMatch.best("SAYHELLO", among: ["sayhello"], minimumScore: 0.75) == "sayhello")
        #expect(FuzzyMatch.best("x", among: [String](), minimumScore: 0.1) == nil)
    }

    @Test func parameterLists() {
        let lists = ["(name, param, val)", "(attr, id)"]
        #expect(FuzzyMatch.best("(nam, pqaram, vall)", among: lists, minimumScore: 0.33) == "(name, param, val)")
        #expect(FuzzyMatch.best("(param, val)", among: lists, minimumScore: 0.33) == "(name, param, val)")
        #expect(FuzzyMatch.best("(attrs, id)", among: lists, minimumScore: 0.33) == "(attr, id)")
        #expect(FuzzyMatch.best("(id)", among: lists, minimumScore: 0.33) == "(attr, id)")
        #expect(FuzzyMatch.best("(noclosealternative)", among: lists, minimumScore: 0.33) == nil)
    }

    @Test func levenshtein() {
        #expect(FuzzyMatch.levenshtein(Array("kitten"), Array("sitting")) == 3)
        #expect(FuzzyMatch.levenshtein([], Array("abc")) == 3)
        #expect(FuzzyMatch.levenshteinSimilarity([], []) == 1)
    }
}
