using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Sockeye.Tests.Support;

/// <summary>
/// The real <c>sockeye</c> program in a child process (the test project references the CLI, so its
/// assembly sits beside the tests), with its output captured line by line.
/// </summary>
internal sealed partial class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _listening.TrySetException(new InvalidOperationException($"sockeye exited before listening; stderr: {Stderr}"));
                return;
            }

            lock (_stdout)
            {
                _stdout.AppendLine(e.Data);
            }

            var match = ListeningLine().Match(e.Data);
            // A Unix socket's line ("listening on unix:/path") has no IP endpoint to hand out.
            if (match.Success && IPEndPoint.TryParse(match.Groups[1].Value, out var endPoint))
            {
                _listening.TrySetResult(endPoint);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>sockeye ARGS</c>; with <paramref name="fileLimit"/>, under <c>ulimit -n</c>;
    /// with <paramref name="environment"/>, with those variables set; with <paramref name="launcher"/>,
    /// through that shell command, which must exec the program in its own process (<c>env A=$$</c>,
    /// <c>systemd-socket-activate -l PORT</c>), so the child's pid stays the shell's.</summary>
    public static CliProcess Start(string arguments, int? fileLimit = null, IReadOnlyDictionary<string, string>? environment = null, string? launcher = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Sockeye.Cli.dll");
        var command = $"exec {launcher} dotnet \"{dll}\" {arguments}";
        if (fileLimit is { } limit)
        {
            command = $"ulimit -n {limit} && {command}";
        }

        var info = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        info.Environment["DOTNET_gcServer"] = "0";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return new CliProcess(Process.Start(info)!);
    }

    /// <summary>Starts another .NET program of this repository (a sample) in <paramref name="workingDirectory"/>.</summary>
    public static CliProcess StartProgram(string dll, string arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_gcServer"] = "0";
        return new CliProcess(Process.Start(info)!);
    }

    /// <summary>Runs <c>sockeye ARGS</c> to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string arguments, IReadOnlyDictionary<string, string>? environment = null, string? launcher = null)
    {
        using var cli = Start(arguments, environment: environment, launcher: launcher);
        var code = await cli.WaitForExitAsync();
        return (code, cli.Stdout, cli.Stderr);
    }

    /// <summary>Waits for the "listening on HOST:PORT" line (for UDP "listening on udp HOST:PORT") and returns the endpoint.</summary>
    public Task<IPEndPoint> ListeningAsync() => _listening.Task.WaitAsync(Loopback.Patience);

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {_process.Id}");
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().WaitAsync(Loopback.Patience);
        _process.WaitForExit(); // flushes the redirected output
        return _process.ExitCode;
    }

    /// <summary>User plus system CPU time the process has used, from /proc.</summary>
    public TimeSpan CpuTime()
    {
        var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>How many file descriptors the process holds now.</summary>
    public int OpenDescriptors() => Directory.GetFiles($"/proc/{_process.Id}/fd").Length;

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"listening on (?:udp )?(\S+)")]
    private static partial Regex ListeningLine();
}
