using System.Text.Json;

namespace Sockeye.Bench;

/// <summary>
/// The load generator behind <c>sockeye bench</c>: runs one benchmark from <see cref="BenchSettings"/>,
/// prints its report on standard output, and returns the process exit code. The command line that
/// builds the settings is the CLI's; everything from the first connection to the last line is here.
/// </summary>
/// <remarks>With <see cref="BenchSettings.Processes"/> above 1 the connections are spread over child
/// processes: the running executable started again with its own <c>bench</c> arguments and
/// <see cref="ChildOption"/>, so the executable must route <c>bench MODE ... --child</c> back here.</remarks>
public static class LoadGenerator
{
    /// <summary>Exit code when the run saw errors or corrupted echoes (fanout: or deliveries lost while no
    /// subscriber was disconnected).</summary>
    public const int Failed = 1;

    /// <summary>The hidden option that makes a <c>bench</c> process a child of another one, spoken to
    /// over its standard input and output.</summary>
    public const string ChildOption = ChildProtocol.ChildOption;

    /// <summary>Runs the benchmark (or, with <see cref="BenchSettings.Child"/>, this process's share of a
    /// parent's), prints the result, and returns the exit code: 0, or <see cref="Failed"/> when any
    /// error or byte mismatch was seen.</summary>
    /// <param name="settings">What to run, already checked.</param>
    /// <param name="cancellationToken">Abandons the run (Ctrl+C): the result is not printed.</param>
    public static async Task<int> RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Child)
        {
            return await ChildRunner.RunAsync(settings).ConfigureAwait(false);
        }

        BenchResult result;
        try
        {
            // The result is printed as soon as it is known: with --linger the connections are then held
            // until the server closes them, and whoever times that drain reads the result first.
            result = await new BenchCoordinator(settings, Console.Error).RunAsync(cancellationToken, async r =>
            {
                await Console.Out.WriteLineAsync(settings.Json
                    ? JsonSerializer.Serialize(r, BenchJson.Default.BenchResult)
                    : BenchReport.Format(r, settings)).ConfigureAwait(false);
                await Console.Out.FlushAsync().ConfigureAwait(false);
                if (r.Failure is { } failure)
                {
                    await Console.Error.WriteLineAsync($"sockeye: error: {failure}").ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("sockeye bench: cancelled").ConfigureAwait(false);
            return Failed;
        }

        return result.Passed ? 0 : Failed;
    }
}
