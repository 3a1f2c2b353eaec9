import Mustache

/// The pages' Mustache templates. Kept in the binary (the PC runs one file, no template folder
/// to lose); `{{x}}` escapes HTML, so every value typed by a user is shown as text.
enum Templates {
  static let library: MustacheLibrary = {
    var library = MustacheLibrary()
    for (name, text) in all {
      // The templates are constants of this file: a parse error is a programming error.
      try! library.register(text, named: name)
    }
    return library
  }()

  static func render(_ name: String, _ object: [String: Any]) -> String {
    library.render(object, withTemplate: name) ?? ""
  }

  static let all: [String: String] = [
    "layout": layout, "input": input, "home": home, "list": list, "form": form, "record": record,
    "conflicts": conflicts,
    "rejected": rejected, "dashboard": dashboard, "history": history, "syncing": syncing, "statistics": statistics,
    "message": message,
  ]

  static let layout = """
    <!DOCTYPE html>
    <html lang="zh-Hans"><head><meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    {{#refresh}}<meta http-equiv="refresh" content="1">{{/refresh}}
    <script src="/app.js" defer></script>
    <title>{{title}} — 组织工作台账</title>
    <style>
    body{font-family:"Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:0;color:#222;background:#f6f6f4;font-size:16px}
    header{background:#b71c1c;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
    header a{color:#fff;text-decoration:none;padding:4px 6px}header a:hover{text-decoration:underline}
    header .unit{font-weight:bold;margin-right:12px}
    main{max-width:1280px;margin:0 auto;padding:16px}
    table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
    th{background:#eee}td.n{text-align:right}
    .box{background:#fff;border:1px solid #ccc;padding:12px 16px;margin-bottom:16px}
    .error{background:#fdecea;border:1px solid #e57373;padding:8px 12px;margin-bottom:12px}
    .ok{background:#e8f5e9;border:1px solid #81c784;padding:8px 12px;margin-bottom:12px}
    label{display:block;font-weight:bold;margin-top:10px}.field-error{color:#b71c1c;font-weight:normal}
    input,select,textarea{font:inherit;padding:4px;min-width:260px}.filters input,.filters select{min-width:0}textarea{width:100%;min-height:6em}
    button{font:inherit;padding:6px 18px;background:#b71c1c;color:#fff;border:0;cursor:pointer}button.plain{background:#777}
    .actions{display:flex;gap:12px;align-items:center;margin-top:8px}.actions form{margin:0}
    .pages a{margin-right:8px}.late{color:#b71c1c;font-weight:bold}
    .small{font-size:14px;font-weight:normal}
    @page{size:A4 landscape;margin:12mm}
    @media print{header,form.noprint,.noprint{display:none}body{background:#fff;font-size:11px}main{max-width:none;padding:0}
    table{page-break-inside:auto}tr{page-break-inside:avoid}th,td{padding:2px 4px}.box{border:0;padding:0}}
    </style></head><body>
    <header><span class="unit">{{unitName}}</span>
    <a href="/">首页</a>{{#nav}}<a href="/records/{{type}}">{{label}}</a>{{/nav}}
    <a href="/conflicts">冲突{{#openConflicts}}（{{openConflicts}}）{{/openConflicts}}</a>
    <a href="/rejected">被退回{{#refused}}（{{refused}}）{{/refused}}</a>
    {{#committee}}<a href="/dashboard">汇总</a><a href="/stats">年报</a>{{/committee}}</header>
    <main>{{#flash}}<div class="ok">{{flash}}</div>{{/flash}}{{{body}}}</main>
    </body></html>
    """

  static let home = """
    <h1>{{unitName}}</h1>
    <div class="box"><p>上次同步：{{lastSync}}</p>
    <p>待上传的修改：{{queued}} 条　未处理的冲突：{{openConflicts}} 条　被退回的修改：{{refused}} 条</p>
    <form method="post" action="/sync" class="noprint"><input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit" id="sync">立即同步</button></form>
    <p>没有网络时也可以照常录入，联网后点“立即同步”即可上传，录入的内容不会丢失。</p></div>
    <div class="box"><h2>台账</h2><ul>{{#types}}<li><a href="/records/{{type}}">{{label}}</a>（{{count}}）</li>{{/types}}</ul></div>
    """

  static let list = """
    <h1>{{label}}</h1>
    <form method="get" class="noprint filters"><input name="q" value="{{q}}" placeholder="搜索姓名、标题等">
    {{#hasUnits}}<select name="unit"><option value="">（全部单位）</option>{{#units}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/units}}</select>{{/hasUnits}}
    {{#hasStatuses}}<select name="status"><option value="">（全部状态）</option>{{#statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}</select>{{/hasStatuses}}
    {{#hasDates}}日期 <input type="date" name="from" value="{{from}}" aria-label="从"> 至 <input type="date" name="to" value="{{to}}" aria-label="到">{{/hasDates}}
    <button type="submit">查找</button>{{#filtered}} <a href="/records/{{type}}">清除条件</a>{{/filtered}}
    {{#canAdd}}　<a href="/records/{{type}}/new" id="add">新增{{label}}</a>{{/canAdd}}</form>
    <p>共 {{total}} 条{{#filtered}}（符合条件）{{/filtered}}</p>
    <table><tr>{{#columns}}<th>{{.}}</th>{{/columns}}<th>状态</th></tr>
    {{#rows}}<tr>{{#cells}}<td>{{.}}</td>{{/cells}}<td><a href="/record/{{id}}">{{sync}}</a></td></tr>{{/rows}}</table>
    <p class="pages">{{#pages}}{{#current}}<b>{{number}}</b> {{/current}}{{^current}}<a href="?{{query}}&page={{number}}">{{number}}</a> {{/current}}{{/pages}}</p>
    """

  static let form = """
    <h1>{{heading}}</h1>
    {{#errors}}<div class="error">{{.}}</div>{{/errors}}
    <form method="post" class="box"><input type="hidden" name="csrf" value="{{csrf}}">
    {{#fields}}{{> input}}{{/fields}}<p><button type="submit" id="save">保存</button></p></form>
    """

  /// One field's label and input (a partial of the record form and the conflict inbox).
  static let input = """
    <label for="f-{{name}}{{suffix}}">{{label}} {{#error}}<span class="field-error">{{error}}</span>{{/error}}</label>
    {{#isText}}<input id="f-{{name}}{{suffix}}" name="{{name}}" value="{{value}}">{{/isText}}
    {{#isLong}}<textarea id="f-{{name}}{{suffix}}" name="{{name}}">{{value}}</textarea>{{/isLong}}
    {{#isNumber}}<input id="f-{{name}}{{suffix}}" name="{{name}}" type="number" value="{{value}}">{{/isNumber}}
    {{#isDate}}<input id="f-{{name}}{{suffix}}" name="{{name}}" type="date" value="{{value}}">{{/isDate}}
    {{#isChoice}}<select id="f-{{name}}{{suffix}}" name="{{name}}"{{#multiple}} multiple size="6"{{/multiple}}><option value="">（请选择）</option>
    {{#options}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/options}}</select>{{/isChoice}}

    """

  static let record = """
    <h1>{{label}}：{{title}}</h1>
    <p>{{sync}}　<a href="/record/{{id}}/edit" class="noprint">修改</a>　<a href="/record/{{id}}/history" class="noprint" id="history-link">修改记录</a></p>
    <table>{{#fields}}<tr><th>{{label}}</th><td>{{value}}</td></tr>{{/fields}}</table>
    """

  static let conflicts = """
    <h1>冲突</h1>
    <p>同一项内容在两处被改成了不同的值。服务器暂时保留了一个，另一个也没有丢——请选择保留哪一个。</p>
    {{^items}}<p>没有待处理的冲突。</p>{{/items}}
    {{#items}}<div class="box"><h2>{{label}}：{{title}}</h2>
    {{#settled}}<p class="ok">已在本机处理，下次同步时告知服务器。</p>{{/settled}}
    {{#open}}{{#ours}}<table class="conflict"><tr><th>项目</th><th>本机录入的值</th><th>另一台电脑录入的值</th><th>现在保留的值</th></tr>
    {{#fields}}<tr><th>{{label}}</th><td class="mine">{{mine}}</td><td class="theirs">{{theirs}}</td><td class="kept">{{kept}}</td></tr>{{/fields}}</table>
    <p>{{#keptHere}}现在保留的是本机录入的值。{{/keptHere}}{{^keptHere}}现在保留的是另一台电脑录入的值，本机录入的值还没有丢。{{/keptHere}}</p>
    <form method="post" action="/conflicts/{{id}}" class="noprint"><input type="hidden" name="csrf" value="{{csrf}}">
    <button name="keep" value="mine" id="keep-mine-{{id}}">保留本机录入的值</button>
    <button name="keep" value="theirs" id="keep-theirs-{{id}}">保留另一台电脑录入的值</button></form>{{/ours}}
    {{#elsewhere}}<table class="conflict"><tr><th>项目</th><th>现在保留的值</th><th>没有保留的值</th></tr>
    {{#fields}}<tr><th>{{label}}</th><td class="kept">{{kept}}</td><td class="lost">{{lost}}</td></tr>{{/fields}}</table>
    <p>这两个值都不是在本机录入的。</p>
    <form method="post" action="/conflicts/{{id}}" class="noprint"><input type="hidden" name="csrf" value="{{csrf}}">
    <button name="keep" value="kept" id="keep-kept-{{id}}">保留现在的值</button>
    <button name="keep" value="lost" id="keep-lost-{{id}}">改用没有保留的值</button></form>{{/elsewhere}}
    {{#editable}}<details class="noprint"><summary>都不对，另填</summary>
    <form method="post" action="/conflicts/{{id}}"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="keep" value="edit">
    {{#inputs}}{{> input}}{{/inputs}}<p><button type="submit" id="edit-{{id}}">改为填写的值</button></p></form></details>{{/editable}}{{/open}}</div>{{/items}}
    """

  static let rejected = """
    <h1>被退回的修改</h1>
    <p>这些修改服务器没有接受；录入的内容都保留在这里：可以改正后重新提交，也可以放弃。</p>
    {{^items}}<p>没有被退回的修改。</p>{{/items}}
    {{#items}}<div class="box"><h2>{{label}}</h2><p class="late">{{reason}}</p><p>退回时间：{{at}}</p>
    <table>{{#fields}}<tr><th>{{label}}</th><td>{{value}}</td></tr>{{/fields}}</table>
    <div class="noprint actions">{{^deleted}}<a href="/rejected/{{id}}/edit" id="fix-{{id}}">改正后重新提交</a>{{/deleted}}
    <form method="post" action="/rejected/{{id}}/retry"><input type="hidden" name="csrf" value="{{csrf}}"><button id="retry-{{id}}">按原内容重新提交</button></form>
    <form method="post" action="/rejected/{{id}}/discard" data-confirm="放弃后这条修改不再保留，确定吗？"><input type="hidden" name="csrf" value="{{csrf}}"><button class="plain" id="discard-{{id}}">放弃</button></form></div></div>{{/items}}
    """

  static let history = """
    <h1>{{label}}：{{title}} — 修改记录</h1>
    <p><a href="/record/{{id}}">返回</a></p>
    {{#note}}<div class="error">{{note}}</div>{{/note}}
    {{^entries}}<p>没有修改记录。</p>{{/entries}}
    <table id="history"><tr><th>时间</th><th>谁</th><th>操作</th><th>改了哪些项</th></tr>
    {{#entries}}<tr><td>{{at}}</td><td>{{who}}</td><td>{{action}}</td><td>{{fields}}</td></tr>{{/entries}}</table>
    """

  static let dashboard = """
    <h1>{{root}} — {{periodLabel}}汇总</h1>
    <form method="get" class="noprint">期次 <select name="period">{{#periods}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/periods}}</select>
    <input type="hidden" name="unit" value="{{unit}}"> <button type="submit">查看</button>
    {{#parent}}　<a href="/dashboard?unit={{parent}}&period={{period}}">返回上级</a>{{/parent}}
    　<button type="button" data-print>打印</button></form>
    <p>数据截至 {{asOf}}（本机副本，{{lastSync}}同步）</p>
    {{#hasLate}}<div class="error"><b>未按时上报{{periodLabel}}报告：</b>{{#late}}<span class="late">{{.}}</span> {{/late}}</div>{{/hasLate}}
    <div class="box"><h2>报告上报率</h2>{{{chart}}}</div>
    {{#rollUp}}<h2>{{heading}} <a class="noprint small" href="/dashboard.xlsx?table={{id}}&{{query}}">下载 Excel</a></h2>
    <table id="rollup"><tr><th>{{first}}</th>{{#columns}}<th>{{.}}</th>{{/columns}}</tr>
    {{#rows}}<tr>{{#link}}<td><a href="/dashboard?unit={{link}}&period={{period}}">{{name}}</a></td>{{/link}}{{^link}}<td>{{name}}</td>{{/link}}{{#cells}}<td class="n">{{.}}</td>{{/cells}}</tr>{{/rows}}</table>{{/rollUp}}
    {{#lists}}<section class="list" id="list-{{id}}"><h2>{{heading}}（{{count}}）{{^none}} <a class="noprint small" href="/dashboard.xlsx?table={{id}}&{{query}}">下载 Excel</a>{{/none}}</h2>
    {{#none}}<p>没有。</p>{{/none}}{{^none}}<table><tr><th>{{first}}</th>{{#columns}}<th>{{.}}</th>{{/columns}}</tr>
    {{#rows}}<tr><td>{{name}}</td>{{#cells}}<td>{{.}}</td>{{/cells}}</tr>{{/rows}}</table>
    {{#more}}<p class="noprint">另有 {{more}} 条未列出，请下载 Excel 查看全部。</p>{{/more}}{{/none}}</section>{{/lists}}
    """

  static let syncing = """
    <h1>正在同步</h1>
    <div class="box"><p id="phase">{{phase}}……</p>
    {{#total}}<p><progress max="{{total}}" value="{{done}}"></progress> {{done}} / {{total}}</p>{{/total}}
    {{#count}}<p>已收到 {{count}} 条</p>{{/count}}
    <p>同步在后台进行，可以关闭这一页；录入的内容不会因为断网而丢失。</p></div>
    """

  static let statistics = """
    <h1>{{unitName}} {{year}}年党内统计（截至12月31日）</h1>
    <form method="get" class="noprint">年度 <select name="year">{{#years}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/years}}</select>
    <button type="submit">查看</button>　<a href="/stats.xlsx?year={{year}}">下载 Excel</a>　<button type="button" data-print>打印</button></form>
    <p>统计口径：正式党员和预备党员，其入党（转正）日期在当年12月31日以前；“本年变动”按当年日期计。</p>
    {{#tables}}<div class="box"><h2>{{name}}</h2><table>{{#rows}}<tr><th>{{row}}</th><td class="n">{{count}}</td></tr>{{/rows}}</table></div>{{/tables}}
    """

  static let message = """
    <h1>{{heading}}</h1><p>{{text}}</p>
    """

  /// The little script the pages use, served from this address (the content security policy
  /// allows no inline script): print buttons, and a question before a form that drops typed work.
  static let script = """
    document.querySelectorAll('[data-print]').forEach(b => b.addEventListener('click', () => window.print()));
    document.querySelectorAll('form[data-confirm]').forEach(f => f.addEventListener('submit', e => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    }));
    """
}
