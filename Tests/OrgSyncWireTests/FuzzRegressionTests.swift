import Foundation
import NIOCore
import OrgSyncWire
import Testing

/// Inputs kept from fuzzing: the seed corpus and every crash or slow input the fuzzer found.
/// A file's name says what must happen:
/// - `ok-N-…`: decodes to a preface and N frames with nothing left over;
/// - `err-CODE-…`: fails with that `WireError` code (its description, e.g. "bad checksum");
/// - anything else (a fuzzer finding): decodes or fails with a `WireError`, and never traps.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
  static let inputs: [String] = {
    let folder = Bundle.module.url(forResource: "Regressions", withExtension: nil)!
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { !$0.hasPrefix(".") }.sorted()
  }()

  static func decode(_ name: String) throws -> (frames: Int, error: WireError?) {
    let url = Bundle.module.url(forResource: "Regressions", withExtension: nil)!.appendingPathComponent(name)
    var buffer = ByteBuffer(bytes: try Data(contentsOf: url))
    var parser = FrameParser()
    var frames = 0
    do {
      while let event = try parser.next(from: &buffer) {
        if case .frame = event { frames += 1 }
      }
      try parser.finish(remaining: buffer)
      return (frames, nil)
    } catch {
      return (frames, error)
    }
  }

  @Test("the corpus is there")
  func corpusPresent() {
    #expect(Self.inputs.contains { $0.hasPrefix("ok-") })
    #expect(Self.inputs.contains { $0.hasPrefix("err-") })
  }

  @Test("each kept input does what its name says", arguments: inputs)
  func keptInput(name: String) throws {
    let (frames, error) = try Self.decode(name)
    let parts = name.split(separator: "-", maxSplits: 2).map(String.init)
    switch parts.first {
    case "ok":
      #expect(error == nil)
      #expect(frames == Int(parts[1]))
    case "err":
      #expect(error?.code.description == parts[1])
    default:
      break  // reaching here without a trap is the point of a fuzzer finding
    }
  }
}
