// "trainlint: Probe This File": runs `trainlint probe FILE --output-format json` (the
// runtime probe: it runs a few training steps) and shows its verdicts as diagnostics.

import * as path from 'path';
import { Diagnostic, DiagnosticCollection, DiagnosticSeverity, Range, TextDocument, Uri, window } from 'vscode';
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
    if (document.isDirty) {
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
    const byFile = new Map<string, Diagnostic[]>();
    for (const finding of findings) {
        const file = finding.filename ? path.resolve(folder, finding.filename) : document.uri.fsPath;
        byFile.set(file, [...(byFile.get(file) ?? []), toDiagnostic(finding)]);
    }
    collection.clear();
    for (const [file, diagnostics] of byFile) {
        collection.set(Uri.file(file), diagnostics);
    }
    window.showInformationMessage(`trainlint probe: ${findings.length} verdict${findings.length === 1 ? '' : 's'}`);
}
