// "trainlint: Probe This File": runs `trainlint probe FILE --output-format json` (the
// runtime probe: it runs a few training steps) and shows its verdicts as diagnostics.

import { Diagnostic, DiagnosticCollection, DiagnosticSeverity, Range, TextDocument, Uri, window } from 'vscode';
import { log } from './log';
import { run } from './python';

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
    verdict?: string;
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
    const diagnostic = new Diagnostic(
        toRange(finding),
        `${verdict}${finding.message}`,
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
    const result = await window.withProgress(
        { location: { viewId: 'workbench.panel.markers.view' }, title: 'trainlint probe' },
        () => run(interpreter, ['-m', 'trainlint', 'probe', document.uri.fsPath, '--output-format', 'json'], cwd, 600_000),
    );
    log.info(`trainlint probe ${document.uri.fsPath}: exit ${result.code}`);
    if (result.stderr) {
        log.info(result.stderr);
    }
    let findings: ProbeFinding[];
    try {
        const parsed = JSON.parse(result.stdout || 'null');
        if (!Array.isArray(parsed)) {
            throw new Error('the probe did not print a JSON list');
        }
        findings = parsed as ProbeFinding[];
    } catch (error) {
        const detail = result.stderr.trim().split('\n').slice(-1)[0] || String(error);
        window.showErrorMessage(`trainlint probe failed: ${detail}`, 'Show Log').then((choice) => {
            if (choice) {
                log.show();
            }
        });
        return;
    }
    collection.set(document.uri, findings.map(toDiagnostic));
    window.showInformationMessage(`trainlint probe: ${findings.length} verdict${findings.length === 1 ? '' : 's'}`);
}
