using System.CommandLine;
using System.CommandLine.Parsing;
using Sockeye.Cli.Parsing;

namespace Sockeye.Cli.Commands;

/// <summary>Option builders shared by the commands, so every command spells and checks them alike.</summary>
internal static class CliOptions
{
    public static Option<string> Host(string description) => new("--host")
    {
        Description = description,
        DefaultValueFactory = _ => "127.0.0.1",
    };

    public static Option<int> Port(string description, int defaultPort)
    {
        var option = new Option<int>("--port", "-p") { Description = description, DefaultValueFactory = _ => defaultPort };
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<int>();
            if (value is < 0 or > 65535)
            {
                r.AddError($"--port must be between 0 and 65535, got {value}");
            }
        });
        return option;
    }

    public static Option<int> AtLeast(string name, int minimum, int defaultValue, string description)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<int>();
            if (value < minimum)
            {
                r.AddError($"{name} must be at least {minimum}, got {value}");
            }
        });
        return option;
    }

    /// <summary>A duration such as <c>10s</c>; <c>0</c> or <c>off</c> parse as zero.</summary>
    public static Option<TimeSpan> Duration(string name, TimeSpan defaultValue, string description) => new(name)
    {
        Description = $"{description} (e.g. 500ms, 30s, 2m; 0 or off to disable; default {Sockeye.Timing.DurationText.Format(defaultValue)})",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r => ParseWith<TimeSpan>(r, name, static (string s, out TimeSpan v, out string e) => Sockeye.Timing.DurationText.TryParse(s, out v, out e)),
    };

    /// <summary>A size such as <c>64KiB</c>.</summary>
    public static Option<long> Size(string name, long defaultValue, string description) => new(name)
    {
        Description = $"{description} (e.g. 4096, 64KiB, 1MiB; default {defaultValue} bytes)",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r => ParseWith<long>(r, name, static (string s, out long v, out string e) => ByteSize.TryParse(s, out v, out e)),
    };

    private delegate bool TryParser<T>(string text, out T value, out string error);

    private static T ParseWith<T>(ArgumentResult result, string name, TryParser<T> parser)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (parser(text, out var value, out var error))
        {
            return value;
        }

        result.AddError($"{name}: {error}");
        return default!;
    }
}
