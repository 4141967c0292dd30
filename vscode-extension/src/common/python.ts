// Which Python runs trainlint: the `trainlint.interpreter` setting, else the Python
// extension's selected interpreter, else python3 on PATH.

import { execFile } from 'child_process';
import { Disposable, Event, EventEmitter, Uri, extensions } from 'vscode';
import { PythonExtension } from '@vscode/python-extension';
import { log } from './log';

const PYTHON_EXTENSION_ID = 'ms-python.python';

const onDidChangeInterpreterEmitter = new EventEmitter<void>();
export const onDidChangeInterpreter: Event<void> = onDidChangeInterpreterEmitter.event;

async function pythonExtensionApi(): Promise<PythonExtension | undefined> {
    if (!extensions.getExtension(PYTHON_EXTENSION_ID)) {
        return undefined;
    }
    try {
        return await PythonExtension.api();
    } catch (error) {
        log.warn(`The Python extension is installed but its API failed: ${error}`);
        return undefined;
    }
}

/** Fire onDidChangeInterpreter when the user picks another interpreter in the Python extension. */
export async function watchInterpreter(disposables: Disposable[]): Promise<void> {
    const api = await pythonExtensionApi();
    if (api) {
        disposables.push(api.environments.onDidChangeActiveEnvironmentPath(() => onDidChangeInterpreterEmitter.fire()));
    }
}

export async function findInterpreter(fromSetting: string[], resource?: Uri): Promise<string[]> {
    if (fromSetting.length > 0) {
        log.info(`Interpreter from trainlint.interpreter: ${fromSetting.join(' ')}`);
        return fromSetting;
    }
    const api = await pythonExtensionApi();
    if (api) {
        const environment = await api.environments.resolveEnvironment(api.environments.getActiveEnvironmentPath(resource));
        const executable = environment?.executable.uri?.fsPath;
        if (executable) {
            log.info(`Interpreter from the Python extension: ${executable}`);
            return [executable];
        }
    }
    log.info('Interpreter: python3 on PATH');
    return ['python3'];
}

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export function run(command: string[], args: string[], cwd?: string, timeoutMs = 120_000): Promise<RunResult> {
    return new Promise((resolve) => {
        execFile(
            command[0],
            [...command.slice(1), ...args],
            { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
            (error, stdout, stderr) => {
                const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
                resolve({ code, stdout: String(stdout), stderr: String(stderr || (error && !stderr ? error.message : '')) });
            },
        );
    });
}

// `python -m` and `python -c` put the working directory first on sys.path: a workspace folder
// that holds a `trainlint/` package (the trainlint repository itself, or any project with a
// folder of that name) would shadow the installed trainlint, and the server would not start.
// This drops that entry before anything is imported. (`-I` would drop it too, but also the
// user site-packages and PYTHONPATH, where `pip install --user` and a checkout put trainlint.)
const WITHOUT_CWD = "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]";

/** The arguments that run `python -m trainlint ARGS` with the working directory off sys.path. */
export function trainlintModule(args: string[]): string[] {
    return ['-c', `${WITHOUT_CWD}; import runpy; runpy.run_module('trainlint', run_name='__main__', alter_sys=True)`, ...args];
}

/** Whether `python -m trainlint server` can start: trainlint and its server importable. */
export async function trainlintImportable(interpreter: string[]): Promise<RunResult> {
    const check = `${WITHOUT_CWD}; import trainlint.server.app, trainlint; print(trainlint.__version__)`;
    return run(interpreter, ['-c', check], undefined, 60_000);
}
