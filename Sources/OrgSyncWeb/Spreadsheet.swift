import Foundation
import Hummingbird
import ZIPFoundation

/// A table written as an Excel workbook (.xlsx: Office Open XML, one sheet), for the county
/// office to file or forward. The zip container comes from ZIPFoundation (a maintained library
/// over the system zlib); the few XML parts inside are small enough to write here, which keeps
/// a spreadsheet library's styling machinery out of a binary that only ever writes plain tables.
/// Numbers are written as numbers (Excel sums them), everything else as text; the header row
/// is bold and frozen.
public struct Spreadsheet: Sendable {
  public var sheetName: String
  public var columns: [String]
  public var rows: [[String]]

  public init(sheetName: String, columns: [String], rows: [[String]]) {
    self.sheetName = sheetName
    self.columns = columns
    self.rows = rows
  }

  public static let contentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

  public func data() throws -> Data {
    let archive = try Archive(accessMode: .create)
    let parts: [(String, String)] = [
      ("[Content_Types].xml", Self.contentTypes), ("_rels/.rels", Self.rootRelations),
      ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", Self.workbookRelations),
      ("xl/styles.xml", Self.styles), ("xl/worksheets/sheet1.xml", sheet),
    ]
    for (path, text) in parts {
      let bytes = Data(text.utf8)
      try archive.addEntry(
        with: path, type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .deflate,
        provider: { position, size in bytes.subdata(in: Int(position)..<Int(position) + size) })
    }
    guard let data = archive.data else { throw CocoaError(.fileWriteUnknown) }
    return data
  }

  /// The workbook as a download named `file` (Chinese names survive: RFC 5987 `filename*`).
  public func response(file: String) throws -> Response {
    let encoded = file.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "table.xlsx"
    return Response(
      status: .ok,
      headers: [
        .contentType: Self.contentType, .cacheControl: "no-store",
        .contentDisposition: "attachment; filename=\"table.xlsx\"; filename*=UTF-8''\(encoded)",
      ],
      body: ResponseBody(byteBuffer: ByteBuffer(bytes: try data())))
  }

  /// A1-style column letters: 0 → A, 25 → Z, 26 → AA.
  static func column(_ index: Int) -> String {
    var n = index + 1
    var letters = ""
    while n > 0 {
      let r = (n - 1) % 26
      letters = String(UnicodeScalar(UInt8(65 + r))) + letters
      n = (n - 1) / 26
    }
    return letters
  }

  /// Text safe inside XML: markup escaped, and the control characters XML 1.0 forbids dropped.
  static func xml(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
      default:
        if scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out
  }

  /// A plain decimal number (kept as a number in the sheet); "012" or "1/2" stay text.
  static func isNumber(_ text: String) -> Bool {
    guard let first = text.first, first != "0" || text == "0", text.count <= 15 else { return false }
    return text.allSatisfy(\.isASCII) && Int(text) != nil
  }

  var sheet: String {
    var xml = """
      <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
      <worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
      <sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>\
      </sheetView></sheetViews><sheetData>
      """
    for (r, cells) in ([columns] + rows).enumerated() {
      xml += "<row r=\"\(r + 1)\">"
      for (c, value) in cells.enumerated() {
        let ref = Self.column(c) + String(r + 1)
        if r > 0, Self.isNumber(value) {
          xml += "<c r=\"\(ref)\"><v>\(value)</v></c>"
        } else {
          xml += "<c r=\"\(ref)\" t=\"inlineStr\"\(r == 0 ? " s=\"1\"" : "")><is><t xml:space=\"preserve\">"
          xml += Self.xml(value) + "</t></is></c>"
        }
      }
      xml += "</row>"
    }
    return xml + "</sheetData><pageSetup paperSize=\"9\" orientation=\"landscape\"/></worksheet>"
  }

  /// Excel refuses sheet names over 31 characters or with []:*?/\ in them.
  var safeSheetName: String {
    let cleaned = String(sheetName.filter { !"[]:*?/\\".contains($0) }.prefix(31))
    return cleaned.isEmpty ? "Sheet1" : cleaned
  }

  var workbook: String {
    """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
    xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
    <sheets><sheet name="\(Self.xml(safeSheetName))" sheetId="1" r:id="rId1"/></sheets></workbook>
    """
  }

  static let contentTypes = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
    <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
    <Default Extension="xml" ContentType="application/xml"/>\
    <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
    <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
    <Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
    </Types>
    """

  static let rootRelations = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
    <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>\
    </Relationships>
    """

  static let workbookRelations = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
    <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>\
    <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>\
    </Relationships>
    """

  /// Two cell formats: plain (0) and the bold header (1).
  static let styles = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
    <fonts count="2"><font><sz val="11"/><name val="宋体"/></font><font><b/><sz val="11"/><name val="宋体"/></font></fonts>\
    <fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>\
    <borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
    <cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
    <cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
    <xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>\
    </styleSheet>
    """
}
