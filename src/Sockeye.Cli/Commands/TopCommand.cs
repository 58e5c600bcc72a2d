using System.CommandLine;
using System.Runtime.InteropServices;
using Sockeye.Cli.Observability;
using Spectre.Console;

namespace Sockeye.Cli.Commands;

/// <summary><c>sockeye top --url ...</c>: a live terminal view of a running server's metrics.</summary>
internal static class TopCommand
{
    public static Command Create()
    {
        var url = new Option<Uri>("--url")
        {
            Description = "The server's metrics page (sockeye serve ... --metrics-port PORT serves it)",
            DefaultValueFactory = _ => new Uri("http://127.0.0.1:9100/metrics"),
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
                {
                    return uri;
                }

                r.AddError($"--url must be an http:// or https:// URL, got '{text}'");
                return null!;
            },
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
            url, interval, serverPort, frames,
        };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(url)!, parse.GetValue(interval), parse.GetValue(serverPort), parse.GetValue(frames)));
        return command;
    }

    private static async Task<int> RunAsync(Uri url, TimeSpan interval, int? serverPort, int? frames)
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

        var runner = new TopRunner(http, url, interval, serverPort, TimeProvider.System);
        var view = new TopView(url.ToString());
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
