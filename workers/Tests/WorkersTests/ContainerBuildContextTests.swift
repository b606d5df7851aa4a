import DockerEngine
import Foundation
import Testing

/// The pieces of the Docker client that need no engine: the tar build context (read back by GNU tar)
/// and the image references the build worker and the host agent agree on.
struct ContainerBuildContextTests {
    @Test func theBuildContextIsATarArchiveThatTarReads() throws {
        var context = BuildContext()
        context.add("Dockerfile", text: "FROM scratch\n")
        context.add("dir/big.bin", Data((0..<1_500).map { UInt8($0 % 251) }), mode: 0o755)
        context.add("empty", Data())
        let tar = context.tar
        #expect(tar.count % 512 == 0)

        let folder = NSTemporaryDirectory() + "build-context-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try tar.write(to: URL(fileURLWithPath: folder + "/context.tar"))
        let untar = Process()
        untar.executableURL = URL(fileURLWithPath: "/bin/tar")
        untar.arguments = ["-xf", "context.tar"]
        untar.currentDirectoryURL = URL(fileURLWithPath: folder)
        try untar.run()
        untar.waitUntilExit()
        #expect(untar.terminationStatus == 0)
        #expect(try String(contentsOfFile: folder + "/Dockerfile", encoding: .utf8) == "FROM scratch\n")
        #expect(FileManager.default.contents(atPath: folder + "/dir/big.bin") == Data((0..<1_500).map { UInt8($0 % 251) }))
        #expect(FileManager.default.contents(atPath: folder + "/empty") == Data())
        #expect(FileManager.default.isExecutableFile(atPath: folder + "/dir/big.bin"))
    }

    @Test func imageReferencesAreValidDockerNames() {
        #expect(ImageReference.reference(image: "android-main", arch: "x86_64", change: 42) == "localhost/a4c/android-main:x86_64-42")
        #expect(ImageReference.reference(image: "My Image/../x", arch: "arm64", change: 7) == "localhost/a4c/my-image-x-3f51899c:arm64-7")
        #expect(ImageReference.reference(image: "---", arch: "???", change: 1) == "localhost/a4c/image-c4e4dc86:arch-1")
        // Names that differ only in what a Docker name cannot hold still get different references.
        #expect(ImageReference.repository(image: "Android") != ImageReference.repository(image: "android"))
    }
}
