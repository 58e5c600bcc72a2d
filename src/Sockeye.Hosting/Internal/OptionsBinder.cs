using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Sockeye.Hosting.Internal;

/// <summary>
/// Binds a listener's configuration section onto <see cref="SockeyeListenerOptions"/> and its
/// <see cref="TcpServerOptions"/> (a UDP listener's: its <see cref="Udp.UdpServerOptions"/>), failing with
/// one message that names the key and the value.
/// </summary>
/// <remarks>
/// Not ConfigurationBinder: its errors name the key but not the value, it reads <c>"30"</c> as thirty
/// days, it cannot read <c>"30s"</c>, and it ignores misspelt keys. Server options are found by
/// reflection over the server options' public settable properties, so an option added there is
/// bindable without a change here. The reflection is trim-safe (a Native AOT <c>sockeye</c> binds the
/// same keys): the two options types are named with <c>typeof</c>, so trimming keeps their properties,
/// and the records an option may hold are named in <see cref="ConstructorOf"/>, so it keeps their
/// constructors (ListenerConfigurationTests checks that none is missing there).
/// </remarks>
internal static class OptionsBinder
{
    private static readonly string[] ListenerKeys = [nameof(SockeyeListenerOptions.Host), nameof(SockeyeListenerOptions.Port), nameof(SockeyeListenerOptions.Protocol),
        nameof(SockeyeListenerOptions.SystemdSocket)];

    /// <summary>Applies every key of <paramref name="section"/> to <paramref name="options"/>: the server
    /// options to <see cref="SockeyeListenerOptions.Udp"/> when <paramref name="udp"/> is set, otherwise
    /// to <see cref="SockeyeListenerOptions.Server"/>.</summary>
    /// <exception cref="SockeyeConfigurationException">A key is unknown or its value does not parse.</exception>
    public static void Bind(IConfigurationSection section, SockeyeListenerOptions options, bool udp)
    {
        object server = udp ? options.Udp : options.Server;
        var serverType = ServerOptionsType(udp);
        foreach (var child in section.GetChildren())
        {
            if (Is(child.Key, nameof(SockeyeListenerOptions.Host)))
            {
                options.Host = Scalar(child);
            }
            else if (Is(child.Key, nameof(SockeyeListenerOptions.Port)))
            {
                options.Port = (int)Convert(child, typeof(int))!;
            }
            else if (Is(child.Key, nameof(SockeyeListenerOptions.Protocol)))
            {
                options.Protocol = Scalar(child);
            }
            else if (Is(child.Key, nameof(SockeyeListenerOptions.SystemdSocket)))
            {
                options.SystemdSocket = Scalar(child);
            }
            else
            {
                var property = FindProperty(serverType, child.Key)
                    ?? throw new SockeyeConfigurationException(child.Path, child.Value,
                        $"{child.Path} is not a {(udp ? "UDP " : "")}listener option (the options are {string.Join(", ", ListenerKeys.Concat(BindableProperties(serverType).Select(p => p.Name)))})");
                property.SetValue(server, Convert(child, property.PropertyType));
            }
        }
    }

    /// <summary>Reads a duration such as <c>Sockeye:DrainTimeout</c>; <see langword="null"/> when the key is absent.</summary>
    /// <exception cref="SockeyeConfigurationException">The value is not a duration, or breaks the rule
    /// every duration obeys (not negative, at most <see cref="Timing.DurationText.Maximum"/>).</exception>
    public static TimeSpan? Duration(IConfigurationSection section)
    {
        if (!section.Exists())
        {
            return null;
        }

        var value = (TimeSpan)Convert(section, typeof(TimeSpan))!;
        return Timing.DurationText.Violation(value) is { } rule ? throw Bad(section, rule) : value;
    }

    // Branches rather than `server.GetType()`: trimming keeps the properties only of a type it can see here.
    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)]
    private static Type ServerOptionsType(bool udp)
    {
        if (udp)
        {
            return typeof(Udp.UdpServerOptions);
        }

        return typeof(TcpServerOptions);
    }

    private static PropertyInfo? FindProperty([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type type, string key) =>
        BindableProperties(type).FirstOrDefault(p => Is(p.Name, key));

    /// <summary>The options of <paramref name="type"/> that configuration can set: public, settable, and of a
    /// scalar type or a record named in <see cref="ConstructorOf"/>.</summary>
    internal static IEnumerable<PropertyInfo> BindableProperties([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true } && IsBindable(p.PropertyType));

    private static bool IsBindable(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || ConstructorOf(type) is not null;
    }

    /// <summary>The one constructor of a record option such as <see cref="MinDataRate"/>, bound from one key
    /// per parameter; <see langword="null"/> for any other type.</summary>
    /// <remarks>The records are named, not found from the property's type, because trimming keeps a
    /// type's constructors only where it sees the type: an option of a new record type is added here.</remarks>
    internal static ConstructorInfo? ConstructorOf(Type type) =>
        type == typeof(MinDataRate) ? OnlyConstructor(typeof(MinDataRate)) : null;

    private static ConstructorInfo? OnlyConstructor([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] Type type) =>
        type.GetConstructors() is [var only] && only.GetParameters().Length > 0
        && only.GetParameters().All(p => IsBindable(p.ParameterType))
            ? only
            : null;

    private static object? Convert(IConfigurationSection section, Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        var canBeNull = underlying is not null || !type.IsValueType;
        var target = underlying ?? type;
        var text = section.Value;
        if (canBeNull && target != typeof(string) && !section.GetChildren().Any() && (string.IsNullOrWhiteSpace(text) || Is(text.Trim(), "null")))
        {
            return null;
        }

        if (ConstructorOf(target) is { } constructor)
        {
            return Construct(section, constructor);
        }

        text = Scalar(section);
        if (target == typeof(string))
        {
            return text;
        }

        if (target == typeof(bool))
        {
            return bool.TryParse(text, out var flag) ? flag : throw Bad(section, "must be true or false");
        }

        if (target == typeof(TimeSpan))
        {
            // A well-formed value that breaks the rule (negative, too long) is bound as it is: the options'
            // Validate applies the same rule (DurationText.Violation) and names the option.
            return Timing.DurationText.TryParseAnyLength(text, out var duration) ? duration
                : throw Bad(section, "is not a duration (use hh:mm:ss such as 00:02:00, or a number with ms, s, m or h such as 30s; 0 or off to disable)");
        }

        if (target.IsEnum)
        {
            return text.Length > 0 && !char.IsAsciiDigit(text[0]) && text[0] != '-' && Enum.TryParse(target, text, ignoreCase: true, out var member) ? member
                : throw Bad(section, $"must be one of {string.Join(", ", Enum.GetNames(target))}");
        }

        if (target == typeof(double) || target == typeof(float))
        {
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real)
                ? System.Convert.ChangeType(real, target, CultureInfo.InvariantCulture)
                : throw Bad(section, "must be a number");
        }

        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole))
        {
            try
            {
                return System.Convert.ChangeType(whole, target, CultureInfo.InvariantCulture);
            }
            catch (OverflowException)
            {
                throw Bad(section, "is out of range");
            }
        }

        throw Bad(section, canBeNull ? "must be a whole number (or null for none)" : "must be a whole number");
    }

    private static object Construct(IConfigurationSection section, ConstructorInfo constructor)
    {
        var parameters = constructor.GetParameters();
        foreach (var child in section.GetChildren())
        {
            if (!parameters.Any(p => Is(p.Name!, child.Key)))
            {
                throw new SockeyeConfigurationException(child.Path, child.Value,
                    $"{child.Path} is not known (use {string.Join(" and ", parameters.Select(p => $"{section.Path}:{Capitalize(p.Name!)}"))})");
            }
        }

        var arguments = parameters.Select(p =>
        {
            var child = section.GetChildren().FirstOrDefault(c => Is(c.Key, p.Name!))
                ?? throw new SockeyeConfigurationException($"{section.Path}:{Capitalize(p.Name!)}", null,
                    $"{section.Path}:{Capitalize(p.Name!)} is missing (set {string.Join(" and ", parameters.Select(q => Capitalize(q.Name!)))})");
            return Convert(child, p.ParameterType);
        }).ToArray();
        return constructor.Invoke(arguments);
    }

    /// <summary>Reads <c>00:02:00</c>-style or <c>30s</c>-style durations (see <see cref="Timing.DurationText"/>).</summary>
    internal static bool TryParseDuration(string text, out TimeSpan value) => Timing.DurationText.TryParse(text, out value, out _);

    private static string Scalar(IConfigurationSection section)
    {
        if (section.Value is null && section.GetChildren().Any())
        {
            throw new SockeyeConfigurationException(section.Path, null, $"{section.Path} must be a single value, not a section");
        }

        return section.Value?.Trim() ?? "";
    }

    private static SockeyeConfigurationException Bad(IConfigurationSection section, string rule) =>
        new(section.Path, section.Value, $"{section.Path} {rule}, got '{section.Value}'");

    private static bool Is(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static string Capitalize(string name) => char.ToUpperInvariant(name[0]) + name[1..];
}
