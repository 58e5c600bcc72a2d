using System.CommandLine;
using System.Runtime.InteropServices;
using Sockeye.Cli.Observability;
using Spectre.Console;

namespace Sockeye.Cli.Commands;

/// <summary><c>sockeye top --url ...</c>: a live terminal view of a running server's metrics; with several
/// <c>--url</c>s or <c>--workers N</c>, of a supervised server's workers, summed.</summary>
internal static class TopCommand
{
    private static readonly Uri DefaultUrl = new("http://127.0.0.1:9100/metrics");

    /// <summary>The <c>top</c> command with its options.</summary>
    public static Command Create()
    {
        var url = new Option<Uri[]>("--url")
        {
            Description = "The server's metrics page (sockeye serve ... --metrics-port PORT serves it); repeat it to watch several workers and show their sum",
            DefaultValueFactory = _ => [DefaultUrl],
            CustomParser = r =>
            {
                if (r.Tokens.Count == 0)
                {
                    return [DefaultUrl];
                }

                var urls = new List<Uri>();
                foreach (var text in r.Tokens.Select(t => t.Value))
                {
                    if (IsHttpUrl(text, out var uri))
                    {
                        urls.Add(uri);
                    }
                    else
                    {
                        r.AddError($"--url must be an http:// or https:// URL, got '{text}'");
                    }
                }

                return [.. urls];
            },
        };
        var workers = new Option<int?>("--workers")
        {
            Description = "Watch the N workers of sockeye serve --processes N --metrics-port M: the --url's port and the N - 1 ports after it, summed",
        };
        var interval = CliOptions.Duration("--interval", TimeSpan.FromSeconds(1), "How often to scrape and redraw");
        interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<TimeSpan>() < TimeSpan.FromMilliseconds(100))
            {
                r.AddError("--interval must be at least 100ms");
            }
        });
        var serverPort = new Option<int?>("--server-port") { Description = "Show only the server listening on this port (when the process runs several)" };
        var frames = new Option<int?>("--frames") { Description = "Exit after this many refreshes (for scripts; default: run until q or Ctrl-C)" };

        var command = new Command("top", "Watch a running server: connections, accepts/s, rejects/s, bytes/s, timeouts and errors, refreshed live.")
        {
            url, workers, interval, serverPort, frames,
        };
        command.Validators.Add(r =>
        {
            // A bad --url has its own error already, and reading its value would throw it.
            if (r.GetValue(workers) is { } count && (r.GetResult(url)?.Tokens ?? []).All(t => IsHttpUrl(t.Value, out _))
                && WatchedUrls(r.GetValue(url), count) is { Error: { } error })
            {
                r.AddError(error);
            }
        });
        command.SetAction((parse, _) => RunAsync(
            WatchedUrls(parse.GetValue(url), parse.GetValue(workers)).Urls, parse.GetValue(interval), parse.GetValue(serverPort), parse.GetValue(frames)));
        return command;
    }

    private static bool IsHttpUrl(string text, out Uri uri) =>
        Uri.TryCreate(text, UriKind.Absolute, out uri!) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>The metrics pages to watch: the <c>--url</c>s (the default one when none was given), or
    /// with <c>--workers N</c> the N workers' pages, the one <c>--url</c> on its port and the ports after
    /// it (worker i serves on M + i − 1); or the error that names the option and the value.</summary>
    public static (Uri[] Urls, string? Error) WatchedUrls(Uri[]? given, int? workers)
    {
        // Without --url, a validator sees no value rather than the default.
        var urls = given is { Length: > 0 } ? given : [DefaultUrl];
        if (workers is not { } count)
        {
            return (urls, null);
        }

        if (count < 1)
        {
            return ([], $"--workers must be at least 1, got {count}");
        }

        if (urls.Length != 1)
        {
            return ([], $"--workers takes one --url (the first worker's), got {urls.Length}");
        }

        var first = urls[0];
        if (first.Port + count - 1 > System.Net.IPEndPoint.MaxPort)
        {
            return ([], $"--workers {count} from port {first.Port} goes past port {System.Net.IPEndPoint.MaxPort}");
        }

        return ([.. Enumerable.Range(0, count).Select(i => new UriBuilder(first) { Port = first.Port + i }.Uri)], null);
    }

    private static async Task<int> RunAsync(Uri[] urls, TimeSpan interval, int? serverPort, int? frames)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var quit = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
        {
            c.Cancel = true;
            quit.Cancel();
        });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            quit.Cancel();
        });
        var keys = WatchForQuitKeyAsync(quit);

        var runner = new TopRunner(http, urls, interval, serverPort, TimeProvider.System);
        var view = new TopView(urls);
        try
        {
            // Scrape once before taking over the screen, so a wrong URL is a plain error line.
            view.Add(await runner.ScrapeAsync(quit.Token));
            await AnsiConsole.Live(view.Render()).AutoClear(false).StartAsync(async live =>
            {
                await runner.RunAsync(view, frame =>
                {
                    live.UpdateTarget(frame);
                    live.Refresh();
                }, frames, quit.Token);
            });
            return 0;
        }
        catch (TopException ex)
        {
            await Console.Error.WriteLineAsync($"sockeye: error: {ex.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (quit.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            await quit.CancelAsync();
            await keys;
        }
    }

    /// <summary>Cancels <paramref name="quit"/> when q is pressed (only when stdin is a terminal).</summary>
    private static Task WatchForQuitKeyAsync(CancellationTokenSource quit)
    {
        if (Console.IsInputRedirected)
        {
            return Task.CompletedTask;
        }

        return Task.Run(async () =>
        {
            while (!quit.IsCancellationRequested)
            {
                if (Console.KeyAvailable && Console.ReadKey(intercept: true).Key is ConsoleKey.Q or ConsoleKey.Escape)
                {
                    await quit.CancelAsync();
                    return;
                }

                try
                {
                    await Task.Delay(50, quit.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });
    }
}
