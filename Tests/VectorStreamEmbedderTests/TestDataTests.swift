import Foundation
import Testing

/// A plain clone must pass its tests: every file a test reads lives inside the repository (testdata/), with its
/// provenance and licence beside it.
@Suite("Test data in the repository")
struct TestDataTests {
    static let root = Fixtures.repositoryRoot

    @Test func referenceEmbeddingsAreInsideTheRepository() throws {
        let path = URL(fileURLWithPath: Fixtures.referencePath).standardized.path
        #expect(path.hasPrefix(Self.root + "/"), "\(path) is outside \(Self.root)")
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try Fixtures.reference().sentences.count == 20)
        // Regenerable by a script of ours, which says how.
        let script = try String(contentsOfFile: Self.root + "/scripts/make-minilm-reference.py", encoding: .utf8)
        #expect(script.contains("sentence_transformers"))
        #expect(script.contains("testdata/minilm-reference.json"))
    }

    @Test func noTestReadsFilesBesideTheRepository() throws {
        let outside = ".." + "/shared/"
        let tests = URL(fileURLWithPath: Self.root + "/Tests")
        let files = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        #expect(!files.isEmpty)
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains(outside), "\(file.path) reads \(outside): copy the data into testdata/")
        }
    }

    @Test func thirdPartyDataComesWithItsLicence() throws {
        let fm = FileManager.default
        for path in ["testdata/README.md", "testdata/LICENSE-Apache-2.0.txt", "testdata/qdrant-openapi-v1.19.json",
                     "testdata/aws-sigv4-test-suite/LICENSE", "testdata/aws-sigv4-test-suite/NOTICE",
                     "testdata/aws-sigv4-test-suite/get-vanilla/context.json"] {
            #expect(fm.fileExists(atPath: Self.root + "/" + path), "\(path) missing")
        }
        let readme = try String(contentsOfFile: Self.root + "/testdata/README.md", encoding: .utf8)
        for name in ["minilm-reference.json", "qdrant-openapi-v1.19.json", "aws-sigv4-test-suite", "Apache-2.0"] {
            #expect(readme.contains(name))
        }
    }
}
