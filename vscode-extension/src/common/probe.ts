// "trainlint: Probe This File": runs `trainlint probe FILE --output-format json` (the
// runtime probe: it runs a few training steps) and shows its verdicts as diagnostics.

import * as path from 'path';
import {
    Diagnostic,
    DiagnosticCollection,
    DiagnosticSeverity,
    NotebookDocument,
    Range,
    TextDocument,
    Uri,
    window,
    workspace,
} from 'vscode';
import { log } from './log';
import { run, trainlintModule } from './python';

interface JsonLocation {
    row: number;
    column: number;
}

/** One entry of the probe's JSON: a finding as `trainlint check --output-format json` prints it, plus verdict fields. */
interface ProbeFinding {
    code: string;
    name?: string;
    severity?: string;
    message: string;
    filename?: string;
    location?: JsonLocation;
    // eslint-disable-next-line @typescript-eslint/naming-convention
    end_location?: JsonLocation;
    url?: string;
    /** In a notebook: the cell (1-based over all cells) the location is in. */
    cell?: number;
    verdict?: string | null;
    // eslint-disable-next-line @typescript-eslint/naming-convention
    verdict_message?: string | null;
    [extra: string]: unknown;
}

const SEVERITY: Record<string, DiagnosticSeverity> = {
    error: DiagnosticSeverity.Error,
    warning: DiagnosticSeverity.Warning,
    info: DiagnosticSeverity.Information,
};

function toRange(finding: ProbeFinding): Range {
    const start = finding.location ?? { row: 1, column: 1 };
    const end = finding.end_location ?? start;
    return new Range(
        Math.max(start.row - 1, 0),
        Math.max(start.column - 1, 0),
        Math.max(end.row - 1, 0),
        Math.max(end.column - 1, start.row === end.row ? start.column : 0),
    );
}

export function toDiagnostic(finding: ProbeFinding): Diagnostic {
    const verdict = typeof finding.verdict === 'string' ? `[${finding.verdict}] ` : '';
    const measured = typeof finding.verdict_message === 'string' ? ` — ${finding.verdict_message}` : '';
    const diagnostic = new Diagnostic(
        toRange(finding),
        `${verdict}${finding.message}${measured}`,
        SEVERITY[finding.severity ?? 'warning'] ?? DiagnosticSeverity.Warning,
    );
    diagnostic.source = 'trainlint probe';
    diagnostic.code = finding.url ? { value: finding.code, target: Uri.parse(finding.url) } : finding.code;
    return diagnostic;
}

export async function probeFile(
    document: TextDocument,
    interpreter: string[],
    cwd: string | undefined,
    collection: DiagnosticCollection,
): Promise<void> {
    // A notebook's cell: the probe runs the notebook (a cell's uri has the notebook's path)
    const notebook: NotebookDocument | undefined = workspace.notebookDocuments.find((nb) =>
        nb.getCells().some((cell) => cell.document.uri.toString() === document.uri.toString()),
    );
    if (notebook?.isDirty) {
        await notebook.save();
    } else if (!notebook && document.isDirty) {
        await document.save();
    }
    // the probe prints paths relative to the folder it ran in: run it where they are resolved
    const folder = cwd ?? path.dirname(document.uri.fsPath);
    const result = await window.withProgress(
        { location: { viewId: 'workbench.panel.markers.view' }, title: 'trainlint probe' },
        () => run(interpreter, trainlintModule(['probe', document.uri.fsPath, '--output-format', 'json']), folder, 600_000),
    );
    log.info(`trainlint probe ${document.uri.fsPath}: exit ${result.code}`);
    if (result.stderr) {
        log.info(result.stderr);
    }
    let findings: ProbeFinding[];
    try {
        // `{findings, summary}` (docs/probe.md); a bare list is accepted too
        const parsed = JSON.parse(result.stdout || 'null');
        const list = Array.isArray(parsed) ? parsed : parsed?.findings;
        if (!Array.isArray(list)) {
            throw new Error('the probe did not print its JSON report');
        }
        findings = list as ProbeFinding[];
    } catch (error) {
        const detail = result.stderr.trim().split('\n').slice(-1)[0] || String(error);
        window.showErrorMessage(`trainlint probe failed: ${detail}`, 'Show Log').then((choice) => {
            if (choice) {
                log.show();
            }
        });
        return;
    }
    // findings may point into other files of the project (the model's module): paths are
    // relative to the folder the probe ran in
    const byFile = new Map<string, [Uri, Diagnostic[]]>();
    for (const finding of findings) {
        const file = finding.filename ? path.resolve(folder, finding.filename) : document.uri.fsPath;
        const uri = cellUri(notebook, file, finding.cell) ?? Uri.file(file);
        const [, diagnostics] = byFile.get(uri.toString()) ?? [uri, []];
        byFile.set(uri.toString(), [uri, [...diagnostics, toDiagnostic(finding)]]);
    }
    collection.clear();
    for (const [uri, diagnostics] of byFile.values()) {
        collection.set(uri, diagnostics);
    }
    window.showInformationMessage(`trainlint probe: ${findings.length} verdict${findings.length === 1 ? '' : 's'}`);
}

/** The document of cell N of the open notebook, when a finding is in one of its cells. */
function cellUri(notebook: NotebookDocument | undefined, file: string, cell: number | undefined): Uri | undefined {
    if (!notebook || cell === undefined || path.resolve(notebook.uri.fsPath) !== file || cell < 1 || cell > notebook.cellCount) {
        return undefined;
    }
    return notebook.cellAt(cell - 1).document.uri;
}
