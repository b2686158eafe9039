import { Field, InputType } from 'type-graphql';
import { IsEmail, IsOptional, Length, Matches, MaxLength, MinLength } from 'class-validator';

@InputType()
export class SignUpInput {
  @Field()
  @IsEmail({}, { message: 'email must be a valid email address' })
  @MaxLength(254)
  email!: string;

  @Field()
  @Length(3, 30, { message: 'username must be 3 to 30 characters' })
  @Matches(/^[A-Za-z0-9_.-]+$/, { message: 'username may contain letters, digits, "_", "." and "-" only' })
  username!: string;

  @Field()
  @MinLength(8, { message: 'password must be at least 8 characters' })
  @MaxLength(200, { message: 'password must be at most 200 characters' })
  password!: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(100)
  firstName?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(100)
  lastName?: string | null;
}
